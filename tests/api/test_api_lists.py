"""Lists: pages that add up, filters, sorts; organisations managed through the API; the compliance report."""

from __future__ import annotations

from typing import Any

from .conftest import World


def walk(world: World, url: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = world.get("admin-a", url, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["next"]
        assert page["total"] >= len(items)
        if cursor is None:
            return items


def test_pages_of_one_add_up_to_the_whole_list(world: World) -> None:
    whole = world.get("admin-a", "/api/v1/devices").json()
    assert whole["total"] == 3 and whole["next"] is None
    assert [d["id"] for d in walk(world, "/api/v1/devices", limit=1)] == [d["id"] for d in whole["items"]]
    assert [d["id"] for d in walk(world, "/api/v1/devices", limit=2, sort="-id")] == \
        sorted((d["id"] for d in whole["items"]), reverse=True)
    assert len(walk(world, "/api/v1/organisations", limit=1)) == 3
    assert len(walk(world, "/api/v1/audit", limit=2)) == world.get("admin-a", "/api/v1/audit").json()["total"]


def test_device_filters(world: World) -> None:
    def ids(**params: str) -> list[str]:
        return [d["id"] for d in world.get("admin-a", "/api/v1/devices", params=params).json()["items"]]

    assert ids(organisation="eu-commission-dg-digit") == ["eu/phone-1"]
    assert ids(platform="ios") == ["eu/phone-3"]
    assert ids(ownership="corporate") == ["eu/phone-1", "eu/phone-2"]
    assert ids(state="grace") == ["eu/phone-1"]
    assert ids(state="compliant") == ["eu/phone-3"]
    assert ids(holder="bo@ec.example.eu") == ["eu/phone-2"]


def test_finding_filters_and_sort(world: World) -> None:
    findings = world.get("auditor-a", "/api/v1/findings", params={"sort": "-state"}).json()
    assert [(f["device"], f["state"]) for f in findings["items"]] == [("eu/phone-1", "grace"),
                                                                      ("eu/phone-2", "exempt")]
    only = world.get("auditor-a", "/api/v1/findings", params={"state": "exempt"}).json()
    assert only["total"] == 1 and only["items"][0]["organisation"] == "eu-commission-dg-comm"


def test_organisations_below_are_created_and_moved_not_the_own(world: World) -> None:
    created = world.request("admin-a", "POST", "/api/v1/organisations", json={
        "id": "eu-commission-dg-hr", "name": "DG Human Resources", "parent": "eu-commission", "kind": "department"})
    assert created.status_code == 201, created.text
    moved = world.request("admin-a", "PUT", "/api/v1/organisations/eu-commission-dg-hr", json={
        "name": "DG HR", "parent": "eu-commission-dg-digit"})
    assert moved.status_code == 200 and moved.json()["parent"] == "eu-commission-dg-digit"
    cycle = world.request("admin-a", "PUT", "/api/v1/organisations/eu-commission-dg-digit", json={
        "name": "DIGIT", "parent": "eu-commission-dg-hr"})
    assert cycle.status_code == 422
    own = world.request("admin-a", "PUT", "/api/v1/organisations/eu-commission", json={
        "name": "EC", "parent": "eu-commission-dg-hr"})
    assert own.status_code == 403
    taken = world.request("admin-a", "POST", "/api/v1/organisations", json={
        "id": "be-federal", "name": "Mine now", "parent": "eu-commission"})
    assert taken.status_code == 409
    audit = world.get("auditor-a", "/api/v1/audit", params={"event": "organisation"}).json()
    assert [e["event"] for e in audit["items"][:2]] == ["organisation:update", "organisation:create"]


def test_report_of_a_subtree(world: World) -> None:
    report = world.get("auditor-a", "/api/v1/reports", params={"days": 3}).json()
    assert (report["organisation"], report["devices"]) == ("eu-commission", 3)
    assert [r["restriction"] for r in report["restrictions"]] == ["eu-commission-tiktok-2023"]
    assert report["restrictions"][0]["totals"] == {"grace": 1, "exempt": 1, "compliant": 1}
    assert len(report["trend"]) == 4
    digit = world.get("auditor-a", "/api/v1/reports", params={"organisation": "eu-commission-dg-digit"}).json()
    assert digit["devices"] == 1
    leuven = world.get("admin-b", "/api/v1/reports").json()
    assert [r["restriction"] for r in leuven["restrictions"]] == ["be-federal-tiktok-personal-2023"]
