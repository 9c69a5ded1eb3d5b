"""/healthz, /metrics and the request log: what operators and their tools read."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appban.api import DEGRADED, DOWN, READY, HealthReport, JsonFormatter, create_api
from appban.store import Database

from .conftest import TEST_LIMITS, World

# What operators read, not storage: SQLite is enough (the storage tests run on both backends).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf]+$')


@pytest.fixture
def doomed(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Database, Path]]:
    """A SQLite database whose directory can be taken away, as if the database server went down."""
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "appban.db")
    database = Database.open(f"sqlite:///{folder / 'appban.db'}")
    yield database, folder
    database.dispose()


def test_healthz_ready_degraded_down(doomed: tuple[Database, Path]) -> None:
    database, folder = doomed
    gate = [HealthReport(READY)]
    client = TestClient(create_api(database, health=lambda: gate[0], limits=TEST_LIMITS))
    assert client.get("/healthz").json() == {"status": "ready", "reasons": []}
    gate[0] = HealthReport(DEGRADED, ("decision table 40 s old",))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "reasons": ["gate: decision table 40 s old"]}
    gate[0] = HealthReport(READY)
    database.dispose()
    shutil.rmtree(folder)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == DEGRADED, "the gate answers on"
    assert response.json()["reasons"][0].startswith("database unreachable")
    gate[0] = HealthReport(DOWN, ("no decision table loaded yet",))
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == DOWN
    alone = TestClient(create_api(database, limits=TEST_LIMITS))
    response = alone.get("/healthz")
    assert response.status_code == 503 and response.json()["reasons"][0].startswith("database unreachable")
    api = alone.get("/api/v1/devices", headers={"Authorization": "Bearer apb_" + "x" * 43})
    assert api.status_code == 503 and api.json()["error"]["code"] == "unavailable"
    assert alone.get("/metrics").status_code == 200 and "appban_database_up 0" in alone.get("/metrics").text


@SQLITE_ONLY
def test_metrics_in_prometheus_text_format(world: World) -> None:
    world.get("admin-a", "/api/v1/devices/eu/phone-1")
    world.get("admin-a", "/api/v1/devices/eu/phone-404")
    extra = "# HELP appban_gate_decisions_total Gate decisions.\n# TYPE appban_gate_decisions_total counter\n" \
            'appban_gate_decisions_total{result="allow"} 7\n'
    client = TestClient(create_api(world.database, extra_metrics=lambda: extra, limits=TEST_LIMITS))
    client.get("/api/v1/devices/eu/phone-1", headers=world.auth("admin-a"))
    client.get("/api/v1/devices/eu/phone-404", headers=world.auth("admin-a"))
    client.get("/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = response.text.splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert all(SAMPLE.match(line) for line in samples), [line for line in samples if not SAMPLE.match(line)]
    text = response.text
    route = 'route="/api/v1/devices/{device_id}"'
    assert f'appban_http_requests_total{{method="GET",{route},status="200"}} 1' in text
    assert f'appban_http_requests_total{{method="GET",{route},status="404"}} 1' in text
    assert 'appban_http_requests_total{method="GET",route="unmatched",status="404"} 1' in text
    assert f'appban_http_request_duration_seconds_count{{method="GET",{route}}} 2' in text
    assert f'appban_http_request_duration_seconds_bucket{{method="GET",{route},le="+Inf"}} 2' in text
    assert 'appban_findings{state="grace"} 1' in text and 'appban_findings{state="exempt"} 1' in text
    assert "appban_devices 4" in text and 'appban_inventory_fresh_devices{max_age_seconds="86400"} 0' in text
    assert 'appban_inventory_fresh_devices{max_age_seconds="604800"} 4' in text
    assert 'appban_gate_decisions_total{result="allow"} 7' in text and "appban_database_up 1" in text
    assert "eu-commission" not in text and "eu/phone" not in text, "no ids in an unauthenticated endpoint"


@SQLITE_ONLY
def test_one_json_log_line_per_request_without_secrets(world: World) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("appban.api")
    logger.addHandler(handler)
    try:
        world.get("admin-a", "/api/v1/devices", params={"platform": "ios"})
        world.get(None, "/api/v1/devices")
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["method"], r["route"], r["status"], r["token"]) for r in records] == [
        ("GET", "/api/v1/devices", 200, world.token_ids["admin-a"]), ("GET", "/api/v1/devices", 401, None)]
    assert all(isinstance(r["duration_ms"], float) and r["logger"] == "appban.api" for r in records)
    assert world.secrets["admin-a"] not in stream.getvalue()
