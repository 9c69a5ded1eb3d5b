"""Exemptions: granted and revoked by the issuer's admins, revoked only with the ETag read, findings at once."""

from __future__ import annotations

import datetime as dt

from .conftest import World, stamp

URL = "/api/v1/exemptions"
LATER = stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))


def finding_state(world: World, device: str) -> str:
    return str(world.get("admin-a", f"/api/v1/devices/{device}").json()["state"])


def test_grant_then_revoke_with_the_etag(world: World) -> None:
    assert finding_state(world, "eu/phone-1") == "grace"
    granted = world.request("admin-a", "POST", URL, json={
        "restriction": "eu-commission-tiktok-2023", "holder": "ana@ec.example.eu", "reason": "Press officer",
        "approver": "DG COMM", "ends": LATER})
    assert granted.status_code == 201, granted.text
    etag = granted.headers["etag"]
    exemption = granted.json()
    assert exemption["state"] == "active" and exemption["etag"] == etag and exemption["id"].startswith("ex-")
    assert finding_state(world, "eu/phone-1") == "exempt"
    url = f"{URL}/{exemption['id']}"
    assert world.get("auditor-a", url).headers["etag"] == etag
    missing = world.request("admin-a", "DELETE", url)
    assert missing.status_code == 428
    revoked = world.request("admin-a", "DELETE", url, headers={"If-Match": etag})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.headers["etag"] != etag
    assert finding_state(world, "eu/phone-1") == "grace"
    stale = world.request("admin-a", "DELETE", url, headers={"If-Match": etag})
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "stale" and error["current_etag"] == revoked.headers["etag"]
    assert error["changes"][0]["field"] == "revoked_at"


def test_bad_grants_are_422_naming_the_field(world: World) -> None:
    both = world.request("admin-a", "POST", URL, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "holder": "ana@ec.example.eu",
        "reason": "x", "approver": "y", "ends": LATER})
    assert both.status_code == 422
    naive = world.request("admin-a", "POST", URL, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x", "approver": "y",
        "ends": "2030-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["where"] == "body.ends"
    past = world.request("admin-a", "POST", URL, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x", "approver": "y",
        "ends": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422 and "future" in past.json()["error"]["message"]
    taken = world.request("admin-a", "POST", URL, json={
        "id": "ex-eu-phone-2", "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x",
        "approver": "y", "ends": LATER})
    assert taken.status_code == 409


def test_a_child_cannot_exempt_itself_from_a_parent_restriction(world: World) -> None:
    response = world.request("admin-b", "POST", URL, json={
        "restriction": "be-federal-tiktok-personal-2023", "device": "leuven/phone-1", "reason": "x", "approver": "y",
        "ends": LATER})
    assert response.status_code == 403


def test_list_filters(world: World) -> None:
    listed = world.get("auditor-a", URL, params={"state": "active"}).json()
    assert [e["id"] for e in listed["items"]] == ["ex-eu-phone-2"]
    assert world.get("auditor-a", URL, params={"device": "eu/phone-1"}).json()["total"] == 0
    assert world.get("admin-b", URL).json()["total"] == 0


REQUESTS = f"{URL}/requests"


def test_a_request_changes_nothing_until_an_admin_of_the_issuer_approves_it(world: World) -> None:
    audit = world.audit_count()
    filed = world.request("analyst-a", "POST", REQUESTS, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "Runs the press account",
        "ends": LATER})
    assert filed.status_code == 201, filed.text
    request = filed.json()
    assert request["status"] == "pending" and request["id"].startswith("exr-") and request["exemption"] is None
    assert filed.headers["location"] == f"{REQUESTS}/{request['id']}"
    assert finding_state(world, "eu/phone-1") == "grace"  # pending: no finding changes
    assert world.audit_count() == audit + 1
    assert [r["id"] for r in world.get("auditor-a", REQUESTS, params={"status": "pending"}).json()["items"]] == [
        request["id"]]
    url = f"{REQUESTS}/{request['id']}"
    assert world.request("analyst-a", "POST", f"{url}/approve", json={}).status_code == 403
    assert world.request("auditor-a", "POST", REQUESTS, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x",
        "ends": LATER}).status_code == 403
    approved = world.request("admin-a", "POST", f"{url}/approve", json={"note": "until the campaign ends"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["exemption"].startswith("ex-") and "admin-a" in body["decided_by"]
    assert finding_state(world, "eu/phone-1") == "exempt"  # judged again as a grant is
    exemption = world.get("admin-a", f"{URL}/{body['exemption']}").json()
    assert exemption["approver"] == "admin-a" and exemption["device"] == "eu/phone-1"
    events = [e["event"] for e in world.get("admin-a", "/api/v1/audit").json()["items"]]
    assert {"exemption:request", "exemption:create", "exemption:approve"} <= set(events)
    again = world.request("admin-a", "POST", f"{url}/reject", json={"reason": "changed my mind"})
    assert again.status_code == 409  # decided once
    assert world.audit_intact()


def test_a_rejected_request_says_why_and_grants_nothing(world: World) -> None:
    filed = world.request("admin-a", "POST", REQUESTS, json={
        "restriction": "eu-commission-tiktok-2023", "holder": "ana@ec.example.eu", "reason": "Wants it",
        "ends": LATER}).json()
    url = f"{REQUESTS}/{filed['id']}"
    assert world.request("admin-a", "POST", f"{url}/reject", json={"reason": "  "}).status_code == 422
    rejected = world.request("admin-a", "POST", f"{url}/reject", json={"reason": "No work need shown"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_note"] == "No work need shown" and rejected.json()["exemption"] is None
    assert finding_state(world, "eu/phone-1") == "grace"
    assert world.request("admin-a", "POST", f"{url}/approve", json={}).status_code == 409
    audit = world.get("auditor-a", "/api/v1/audit", params={"event": "exemption:reject"}).json()["items"]
    assert [(e["subject"], e["details"]["rejection"]) for e in audit] == [(filed["id"], "No work need shown")]


def test_requests_are_scoped_and_checked(world: World) -> None:
    filed = world.request("analyst-a", "POST", REQUESTS, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x", "ends": LATER}).json()
    url = f"{REQUESTS}/{filed['id']}"
    assert world.get("admin-b", url).status_code == 404
    assert world.request("admin-b", "POST", f"{url}/approve", json={}).status_code == 404
    assert world.get("admin-b", REQUESTS).json()["total"] == 0
    foreign = world.request("admin-b", "POST", REQUESTS, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x", "ends": LATER})
    assert foreign.status_code == 422 and foreign.json()["error"]["where"] == "body.restriction"
    # a municipality asks the federal issuer: it may ask, only the issuer's admins decide
    asked = world.request("admin-b", "POST", REQUESTS, json={
        "restriction": "be-federal-tiktok-personal-2023", "device": "leuven/phone-1", "reason": "x", "ends": LATER})
    assert asked.status_code == 201, asked.text
    mine = f"{REQUESTS}/{asked.json()['id']}"
    assert world.request("admin-b", "POST", f"{mine}/approve", json={}).status_code == 403
    assert world.get("admin-be", mine).status_code == 200
    past = world.request("admin-a", "POST", REQUESTS, json={
        "restriction": "eu-commission-tiktok-2023", "device": "eu/phone-1", "reason": "x",
        "ends": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422 and "future" in past.json()["error"]["message"]
