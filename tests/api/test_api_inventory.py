"""Inventory pushes: a source reports for its own organisation only, all of a file or none of it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from appban.service.importing import PUSH_DEVICES

from .conftest import SIGNAL, TEST_LIMITS, TIKTOK, World, csv_rows, stamp

NOW = stamp(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
PUSH = "/api/v1/inventory/csv"


def test_a_source_pushes_for_its_organisation_by_default(world: World) -> None:
    body = csv_rows(("digit/laptop-1", "android", TIKTOK, NOW, "corporate", "true", "", ""))
    response = world.request("source-a", "POST", PUSH, content=body, params={"name": "digit-export.csv"})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["reports"], summary["devices_created"], summary["source"]) == (1, 1, "digit-export.csv")
    assert summary["states"] == {"grace": 1}
    device = world.get("admin-a", "/api/v1/devices/digit/laptop-1").json()
    assert device["organisation"] == "eu-commission-dg-digit" and device["state"] == "grace"


def test_a_source_cannot_place_a_device_elsewhere_and_nothing_of_the_file_is_kept(world: World) -> None:
    before = world.device_count()
    body = csv_rows(("digit/ok-1", "android", SIGNAL, NOW, "corporate", "true", "", ""),
                    ("comm/phone-9", "android", SIGNAL, NOW, "corporate", "true", "eu-commission-dg-comm", ""))
    response = world.request("source-a", "POST", PUSH, content=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "comm/phone-9" in error["message"] and error["where"].startswith("csv push:")
    assert world.device_count() == before
    moved = world.request("source-a", "POST", PUSH, content=csv_rows(
        ("eu/phone-2", "android", SIGNAL, NOW, "corporate", "true", "", "")))
    assert moved.status_code == 422, "a device of a sibling organisation cannot be overwritten"
    elsewhere = world.request("source-a", "POST", PUSH, content=b"device_id,platform,app_identifier,observed_at\n"
                              b"x-1,android,,2024-01-01T00:00:00Z\n", params={"organisation": "eu-commission"})
    assert elsewhere.status_code == 422 and elsewhere.json()["error"]["where"] == "query.organisation"


def test_a_record_with_an_error_is_named_and_nothing_is_imported(world: World) -> None:
    before = world.device_count()
    body = csv_rows(("eu/new-1", "android", SIGNAL, NOW, "corporate", "true", "", ""),
                    ("eu/new-2", "andriod", SIGNAL, NOW, "corporate", "true", "", ""))
    response = world.request("admin-a", "POST", PUSH, content=body, params={"name": "broken.csv"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["where"] == "broken.csv:3" and "platform" in error["message"]
    assert world.device_count() == before


def test_unknown_format_is_named(world: World) -> None:
    response = world.request("admin-a", "POST", "/api/v1/inventory/mdm9000", content=b"{}")
    assert response.status_code == 422
    assert response.json()["error"]["where"] == "path.format" and "mdm9000" in response.json()["error"]["message"]


def test_an_amapi_page_is_imported(world: World) -> None:
    page = {"devices": [{
        "name": "enterprises/LC0eu/devices/amapi-1", "managementMode": "DEVICE_OWNER", "state": "ACTIVE",
        "ownership": "COMPANY_OWNED", "lastStatusReportTime": NOW.replace("Z", ".000Z"),
        "applicationReports": [{"packageName": TIKTOK, "state": "INSTALLED", "displayName": "TikTok"}]}]}
    response = world.request("admin-a", "POST", "/api/v1/inventory/amapi", content=json.dumps(page).encode(),
                             params={"organisation": "eu-commission-dg-comm", "enrolled": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["devices_created"] == 1


def test_an_upload_over_the_limit_is_413_and_nothing_is_imported(world: World) -> None:
    before = world.device_count()
    row = ("eu/big", "android", SIGNAL, NOW, "corporate", "true", "", "")
    body = csv_rows(*[row] * (TEST_LIMITS.upload // 60 + 10))
    assert len(body) > TEST_LIMITS.upload
    response = world.request("admin-a", "POST", PUSH, content=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks() -> object:  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    streamed = world.request("admin-a", "POST", PUSH, content=chunks())
    assert streamed.status_code == 413
    assert world.device_count() == before


def test_pushes_at_the_same_time_each_get_their_own_summary(world: World) -> None:
    """Small pushes arriving together are stored in batches (service.group_commit); each answer is its own."""
    commit = world.app.state.appban.pushes
    before = commit.jobs
    start = threading.Barrier(12)
    answers: dict[int, Any] = {}

    def push(n: int) -> None:
        app = TIKTOK if n % 3 == 0 else SIGNAL
        body = csv_rows(*[(f"digit/together-{n}-{k}", "android", app, NOW, "corporate", "true", "", "")
                          for k in range(1 + n % 2)])
        start.wait(10)
        answers[n] = world.request("source-a", "POST", PUSH, content=body, params={"name": f"push-{n}.csv"})

    threads = [threading.Thread(target=push, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for n, response in sorted(answers.items()):
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["source"], summary["reports"], summary["devices_created"]) == (
            f"push-{n}.csv", 1 + n % 2, 1 + n % 2)
        assert summary["states"] == ({"grace": 1 + n % 2} if n % 3 == 0 else {})
    assert len(answers) == 12 and commit.jobs - before == 12
    metrics = world.get(None, "/metrics").text
    assert f"appban_pushes_batched_total {commit.jobs}" in metrics
    assert f"appban_push_batches_total {commit.batches}" in metrics and commit.batches <= commit.jobs
    device = world.get("admin-a", "/api/v1/devices/digit/together-3-1").json()
    assert device["organisation"] == "eu-commission-dg-digit" and device["state"] == "grace"


def test_a_file_of_many_devices_is_streamed_in_a_transaction_of_its_own(world: World) -> None:
    commit = world.app.state.appban.pushes
    before = commit.jobs
    body = csv_rows(*[(f"digit/fleet-{n:03d}", "android", SIGNAL, NOW, "corporate", "true", "", "")
                      for n in range(PUSH_DEVICES + 1)])
    response = world.request("source-a", "POST", PUSH, content=body)
    assert response.status_code == 200, response.text
    assert response.json()["devices_created"] == PUSH_DEVICES + 1
    assert commit.jobs == before  # too many devices for a batch of pushes
