"""`/gate/auth` as a reverse proxy sees it: status codes, headers, errors; and the decision log behind it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from appban.access import new_token, token_hash
from appban.gate import (
    DecisionLog,
    DecisionTable,
    DeviceInfo,
    FindingInfo,
    GateApp,
    GateToken,
    RestrictionInfo,
    build_table,
    compile_device,
)
from appban.model import FindingState, Platform, UnknownCounts

from .support import AsgiClient

NOW = dt.datetime(2023, 3, 20, 9, 0, tzinfo=dt.UTC)
TOKEN = new_token()
EXPIRED = new_token()
MAIL = RestrictionInfo(id="eu-tiktok", version=2, title="TikTok off corporate devices", rationale="",
                       cuts=frozenset({"mail", "chat"}), unknown_counts_as=UnknownCounts.NON_COMPLIANT)


def finding(state: FindingState, deadline: dt.datetime) -> FindingInfo:
    return FindingInfo(restriction=MAIL.id, version=2, state=state, reason="", deadline=deadline,
                       apps=("TikTok (com.zhiliaoapp.musically)",), shadow=False)


def table() -> DecisionTable:
    devices = [
        DeviceInfo("clean", "eu-commission", None, Platform.IOS),
        DeviceInfo("late", "eu-commission", None, Platform.ANDROID,
                   (finding(FindingState.NON_COMPLIANT, NOW - dt.timedelta(days=5)),)),
        DeviceInfo("grace", "eu-commission", None, Platform.ANDROID,
                   (finding(FindingState.GRACE, NOW + dt.timedelta(days=5)),)),
        DeviceInfo("belgian", "be-federal", None, Platform.ANDROID),
    ]
    entries = [compile_device(d, {MAIL.id: MAIL}, f"/remediate/tok-{d.id}" if d.findings else None)
               for d in devices]
    tokens = {token_hash(TOKEN): GateToken("tok_1", "mail-proxy", "eu-commission", frozenset({"eu-commission"}), None),
              token_hash(EXPIRED): GateToken("tok_2", "old", "eu-commission", frozenset({"eu-commission"}),
                                             NOW - dt.timedelta(seconds=1))}
    return build_table(entries, {MAIL.id: MAIL}, tokens, allow_unknown=False)


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    decisions = DecisionLog(tmp_path / "decisions.jsonl")
    decisions.start()
    return decisions


@pytest.fixture
def client(log: DecisionLog) -> AsgiClient:
    loaded = table()
    app = GateApp(lambda: loaded, log, device_header="X-Device-Id", public_url="https://appban.example.eu/",
                  clock=lambda: NOW)
    return AsgiClient(app, base_url="http://gate")


def ask(client: AsgiClient, device: str | None, *, service: str | None = "mail", method: str = "GET",
        token: str | None = TOKEN, path: str = "/gate/auth", **headers: str) -> object:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if device is not None:
        sent["X-Device-Id"] = device
    if token is not None:
        sent["X-Appban-Gate-Token"] = token
    params = {"service": service} if service is not None else None
    return client.request(method, path, params=params, headers=sent)


def test_a_compliant_device_gets_exactly_200_and_a_decision_id(client: AsgiClient) -> None:
    response = client.get("/gate/auth?service=mail", headers={"X-Device-Id": "clean", "X-Appban-Gate-Token": TOKEN})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-appban-decision-id"]
    assert "x-appban-warning" not in response.headers
    assert "x-appban-reason" not in response.headers


def test_a_denied_device_gets_403_with_the_reason_and_an_absolute_remediation_link(client: AsgiClient) -> None:
    response = client.get("/gate/auth?service=mail", headers={"X-Device-Id": "late", "X-Appban-Gate-Token": TOKEN})
    assert response.status_code == 403
    assert response.headers["x-appban-remediation"] == "https://appban.example.eu/remediate/tok-late"
    assert "must be removed from this device since 2023-03-15" in response.headers["x-appban-reason"]
    assert response.text.endswith("what to do: https://appban.example.eu/remediate/tok-late\n")


def test_inside_a_grace_period_200_carries_the_warning(client: AsgiClient) -> None:
    response = client.get("/gate/auth", headers={"X-Device-Id": "grace", "X-Appban-Gate-Token": TOKEN,
                                                 "X-Appban-Service": "mail"})
    assert response.status_code == 200
    assert response.headers["x-appban-warning"].startswith("remove TikTok (com.zhiliaoapp.musically) by 2023-03-25")
    assert response.headers["x-appban-remediation"] == "https://appban.example.eu/remediate/tok-grace"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
def test_any_method_is_judged_and_the_body_ignored(client: AsgiClient, method: str) -> None:
    response = client.request(method, "/gate/auth?service=mail", content=b"x" * 10_000,
                              headers={"X-Device-Id": "late", "X-Appban-Gate-Token": TOKEN})
    assert response.status_code == 403


def test_the_query_names_the_service_before_the_header(client: AsgiClient) -> None:
    headers = {"X-Device-Id": "late", "X-Appban-Gate-Token": TOKEN, "X-Appban-Service": "mail"}
    assert client.get("/gate/auth?service=calendar", headers=headers).status_code == 200
    assert client.get("/gate/auth", headers=headers).status_code == 403
    assert client.get("/gate/auth", headers={**headers, "X-Appban-Service": "calendar"}).status_code == 200
    del headers["X-Appban-Service"]
    assert client.get("/gate/auth", headers=headers).status_code == 403  # no service: every service cut


def test_behind_envoy_the_client_query_cannot_choose_the_service(client: AsgiClient) -> None:
    """Envoy appends the client's path and query to the prefix: only the header set by Envoy counts."""
    headers = {"X-Device-Id": "late", "X-Appban-Gate-Token": TOKEN, "X-Appban-Service": "mail"}
    response = client.get("/gate/auth/owa/inbox?service=calendar", headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(("headers", "field"), [
    ({}, "X-Device-Id"),
    ({"X-Device-Id": ""}, "X-Device-Id"),
    ({"X-Device-Id": "x" * 513}, "X-Device-Id"),
    ({"X-Device-Id": "caf\u00e9"}, "X-Device-Id"),
])
def test_a_missing_or_malformed_device_header_is_400_naming_it(client: AsgiClient, headers: dict[str, str],
                                                                 field: str) -> None:
    raw = [(k.encode(), v.encode("utf-8")) for k, v in {**headers, "X-Appban-Gate-Token": TOKEN}.items()]
    response = client.get("/gate/auth?service=mail", headers=raw)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert field in body["detail"]
    assert "the reverse proxy must always set it" in body["detail"]


def test_a_bad_service_name_is_400_naming_the_parameter(client: AsgiClient) -> None:
    headers = {"X-Device-Id": "clean", "X-Appban-Gate-Token": TOKEN}
    response = client.get("/gate/auth?service=Mail%20Server", headers=headers)
    assert response.status_code == 400
    assert response.json()["field"] == "service"
    response = client.get("/gate/auth", headers={**headers, "X-Appban-Service": "../etc"})
    assert response.json()["field"] == "X-Appban-Service"


@pytest.mark.parametrize("token", [None, "", "apb_" + "x" * 43, "not-a-token", EXPIRED],
                         ids=["missing", "empty", "unknown", "malformed", "expired"])
def test_without_a_valid_gate_token_the_answer_is_401(client: AsgiClient, token: str | None) -> None:
    headers = {"X-Device-Id": "clean"}
    if token is not None:
        headers["X-Appban-Gate-Token"] = token
    response = client.get("/gate/auth?service=mail", headers=headers)
    assert response.status_code == 401
    assert response.json()["field"] == "X-Appban-Gate-Token"


def test_a_token_is_not_told_about_other_organisations_devices(client: AsgiClient) -> None:
    response = client.get("/gate/auth?service=mail", headers={"X-Device-Id": "belgian", "X-Appban-Gate-Token": TOKEN})
    assert response.status_code == 403
    assert response.headers["x-appban-reason"] == "device not known to appban"
    assert response.headers["x-appban-remediation"] == "https://appban.example.eu/remediate/"


def test_other_gate_paths_are_404_and_no_table_is_503(log: DecisionLog) -> None:
    app = GateApp(lambda: None, log, device_header="X-Client-Fingerprint", public_url="http://x")
    client = AsgiClient(app)
    assert client.get("/gate/other").status_code == 404
    assert client.get("/gate/authx").status_code == 404
    response = client.get("/gate/auth", headers={"X-Client-Fingerprint": "ab:cd"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


def test_every_decision_is_logged_with_its_inputs(client: AsgiClient, log: DecisionLog) -> None:
    ids = []
    for device in ("clean", "late", "grace", "nobody"):
        response = client.get("/gate/auth?service=mail", headers={
            "X-Device-Id": device, "X-Appban-Gate-Token": TOKEN, "X-Original-URI": "/owa/?ae=Folder",
            "X-Original-Method": "POST"})
        ids.append(response.headers["x-appban-decision-id"])
    client.get("/gate/auth/owa/inbox?x=1", headers={"X-Device-Id": "clean", "X-Appban-Gate-Token": TOKEN,
                                                     "X-Appban-Service": "chat"})
    log.close()
    assert log.path is not None
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [line["id"] for line in lines[:4]] == ids
    assert len(set(ids)) == 4
    late = lines[1]
    assert late["device"] == "late" and late["service"] == "mail" and late["result"] == "deny"
    assert late["method"] == "POST" and late["uri"] == "/owa/?ae=Folder"
    assert late["restriction"] == "eu-tiktok" and late["versions"] == {"eu-tiktok": 2}
    assert late["token"] == "tok_1"
    assert late["at"] == "2023-03-20T09:00:00.000000+00:00"
    assert lines[2]["warning"].startswith("remove TikTok")
    assert lines[3]["reason"] == "device not known to appban"
    assert lines[4]["uri"] == "/owa/inbox?x=1" and lines[4]["method"] == "GET"


def test_the_decision_log_loses_nothing_on_a_clean_shutdown(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "deep" / "decisions.jsonl")
    log.start()
    decision = table().unknown
    ids = [log.next_id() for _ in range(20_000)]
    for decision_id in ids:
        log.record(decision_id, NOW, "device", "mail", None, None, None, decision)
    log.close()
    written = [json.loads(line)["id"] for line in (tmp_path / "deep" / "decisions.jsonl").read_text().splitlines()]
    assert written == ids
    assert log.written == 20_000 and log.pending == 0
