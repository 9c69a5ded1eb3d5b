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
