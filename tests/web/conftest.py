"""A seeded dashboard for the web tests (tests/web/support.py), and a client that signs in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from appban.store import Database
from appban.web import create_web

from .support import PASSWORD, seed

SECRET = b"web-tests-secret-0123456789abcdef"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    database: Database
    app: Starlette
    seeded: dict[str, Any]

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def signed_in(self, username: str) -> TestClient:
        client = self.client()
        page = client.get("/login")
        response = client.post("/login", data={"username": username, "password": PASSWORD,
                                               "csrf": csrf_of(page.text), "next": "/"})
        assert response.status_code == 303, response.text
        return client


def csrf_of(text: str) -> str:
    found = CSRF.search(text)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def site(database: Database) -> Site:
    seeded = seed(database)
    return Site(database=database, app=create_web(database, secret=SECRET), seeded=seeded)
