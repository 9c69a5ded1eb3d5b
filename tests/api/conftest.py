"""A seeded API for the API tests, on SQLite and PostgreSQL (tests/conftest.py makes the database).

Two unrelated parts of the example hierarchy: A is the European Commission (`eu-commission` and its two
directorates-general), B is a Belgian municipality (`be-leuven`, below `be-flanders` below `be-federal`).
A has a restriction, devices (one with TikTok), an exemption, tokens and audit entries; B has a device and is
bound by, and may adopt, a recommended restriction of `be-federal`. Everything A owns is pushed through the
API itself, as its admin would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from appban.access import Role
from appban.api import Limits, create_api
from appban.policy.organisations import parse_organisations
from appban.store import AuditLog, Database, DeviceRepository, OrganisationRepository, TokenRepository
from appban.store.tables import AuditLogRow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EU_RESTRICTION = (EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml").read_text()
BE_RECOMMENDED = (EXAMPLES / "restrictions" / "be-federal-tiktok-personal-2023.yaml").read_text()
TIKTOK = "com.zhiliaoapp.musically"
SIGNAL = "org.thoughtcrime.securesms"
CSV_HEADER = "device_id,platform,app_identifier,observed_at,ownership,enrolled,organisation,holder\n"

# Body size limits small enough to cross in a test.
TEST_LIMITS = Limits(body=64 * 1024, upload=256 * 1024)

# What A owns, by placeholder; `ghost` names things that do not exist anywhere, shaped alike.
A_IDS = {
    "org": "eu-commission-dg-digit",
    "root": "eu-commission",
    "device": "eu/phone-1",
    "restriction": "eu-commission-tiktok-2023",
    "exemption": "ex-eu-phone-2",
    "holder": "ana@ec.example.eu",
}
GHOST_IDS = {
    "org": "eu-commission-dg-digix",
    "root": "eu-commissiox",
    "device": "eu/phone-x",
    "restriction": "eu-commission-tiktok-202x",
    "exemption": "ex-eu-phone-x",
    "holder": "anx@ec.example.eu",
}


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_rows(*rows: tuple[str, ...]) -> bytes:
    return (CSV_HEADER + "".join(",".join(row) + "\n" for row in rows)).encode()


@dataclass
class World:
    database: Database
    app: FastAPI
    client: TestClient
    secrets: dict[str, str] = field(default_factory=dict)  # token name -> secret
    token_ids: dict[str, str] = field(default_factory=dict)
    a: dict[str, str] = field(default_factory=lambda: dict(A_IDS))
    ghost: dict[str, str] = field(default_factory=lambda: dict(GHOST_IDS))

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[name]}"}

    def request(self, name: str | None, method: str, url: str, **options: Any) -> Any:
        headers = {**(self.auth(name) if name else {}), **options.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **options)

    def get(self, name: str | None, url: str, **options: Any) -> Any:
        return self.request(name, "GET", url, **options)

    def audit_count(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(AuditLogRow)) or 0

    def device_count(self) -> int:
        with self.database.session() as session:
            return DeviceRepository(session).count()

    def audit_intact(self) -> bool:
        with self.database.session() as session:
            return AuditLog(session).verify() == []


def make_token(database: Database, name: str, organisation: str, role: Role) -> tuple[str, str]:
    with database.session() as session:
        info, secret = TokenRepository(session).create(name=name, organisation=organisation, role=role, expires=None,
                                                       actor="api-tests", now=dt.datetime.now(dt.UTC))
    return info.id, secret


def seed(database: Database) -> World:
    now = dt.datetime.now(dt.UTC)
    with database.session() as session:
        organisations = [e.organisation for e in parse_organisations(
            (EXAMPLES / "organisations" / "organisations.yaml").read_text(), "organisations.yaml")]
        OrganisationRepository(session).apply(organisations, actor="api-tests", now=now)
    app = create_api(database, limits=TEST_LIMITS)
    world = World(database=database, app=app, client=TestClient(app))
    for name, organisation, role in (
        ("admin-a", "eu-commission", Role.ADMIN), ("auditor-a", "eu-commission", Role.AUDITOR),
        ("analyst-a", "eu-commission", Role.ANALYST), ("source-a", "eu-commission-dg-digit", Role.SOURCE),
        ("gate-a", "eu-commission", Role.GATE), ("admin-b", "be-leuven", Role.ADMIN),
        ("admin-be", "be-federal", Role.ADMIN), ("admin-dk", "dk-parliament", Role.ADMIN),
    ):
        world.token_ids[name], world.secrets[name] = make_token(database, name, organisation, role)
    world.a["token"] = world.token_ids["source-a"]
    world.ghost["token"] = "tok_0000000000000000"
    seen = stamp(now - dt.timedelta(days=1))
    checks = [
        world.request("admin-a", "POST", "/api/v1/restrictions", json={"text": EU_RESTRICTION}),
        world.request("admin-be", "POST", "/api/v1/restrictions", json={"text": BE_RECOMMENDED}),
        world.request("admin-a", "POST", "/api/v1/inventory/csv", content=csv_rows(
            ("eu/phone-1", "android", TIKTOK, seen, "corporate", "true", "eu-commission-dg-digit", "ana@ec.example.eu"),
            ("eu/phone-2", "android", SIGNAL, seen, "corporate", "true", "eu-commission-dg-comm", "bo@ec.example.eu"),
            ("eu/phone-3", "ios", "", seen, "personal", "true", "eu-commission", ""),
        )),
        world.request("admin-b", "POST", "/api/v1/inventory/csv", content=csv_rows(
            ("leuven/phone-1", "android", SIGNAL, seen, "personal", "true", "be-leuven", "jan@leuven.example.be"),
        )),
        world.request("admin-a", "POST", "/api/v1/exemptions", json={
            "id": "ex-eu-phone-2", "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-2",
            "reason": "Communication unit account, reviewed", "approver": "DIGIT security",
            "ends": stamp(now + dt.timedelta(days=30))}),
    ]
    for response in checks:
        assert response.status_code in (200, 201), (response.request.url, response.status_code, response.text)
    return world


@pytest.fixture
def world(database: Database) -> Iterator[World]:
    seeded = seed(database)
    yield seeded
    seeded.client.close()
