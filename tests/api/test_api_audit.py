"""The audit log through the API: newest first, each caller reading the entries about its own subtree."""

from __future__ import annotations

from typing import Any

from .conftest import World


def entries(world: World, token: str, **params: Any) -> list[dict[str, Any]]:
    response = world.get(token, "/api/v1/audit", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_each_caller_reads_the_entries_about_its_subtree(world: World) -> None:
    adopted = world.request("admin-b", "PUT", "/api/v1/restrictions/be-federal-tiktok-personal-2023/adoptions/"
                            "be-leuven", json={"adopted": False, "note": "not now"})
    assert adopted.status_code == 200
    commission = entries(world, "auditor-a")
    subjects = {(e["event"], e["subject"]) for e in commission}
    assert ("restriction:create", "eu-commission-tiktok-2023") in subjects
    assert ("exemption:create", "ex-eu-phone-2") in subjects
    assert ("organisation:create", "eu-commission-dg-digit") in subjects
    assert ("token:create", world.token_ids["gate-a"]) in subjects
    assert not any("be-" in e["subject"] or e["subject"] == world.token_ids["admin-b"] for e in commission)
    seqs = [e["seq"] for e in commission]
    assert seqs == sorted(seqs, reverse=True), "newest first"

    leuven = entries(world, "admin-b")
    assert {(e["event"], e["subject"]) for e in leuven} == {
        ("organisation:create", "be-leuven"), ("token:create", world.token_ids["admin-b"]),
        ("restriction:decline", "be-federal-tiktok-personal-2023")}
    federal = entries(world, "admin-be", event="restriction")
    assert [(e["event"], e["details"].get("organisation")) for e in federal] == [
        ("restriction:decline", "be-leuven"), ("restriction:create", None)]


def test_pages_continue_from_the_last_entry_shown(world: World) -> None:
    first = world.get("auditor-a", "/api/v1/audit", params={"limit": 2}).json()
    world.request("admin-a", "POST", "/api/v1/tokens", json={"name": "meanwhile", "role": "gate"})
    second = world.get("auditor-a", "/api/v1/audit", params={"limit": 2, "cursor": first["next"]}).json()
    assert second["items"][0]["seq"] < first["items"][-1]["seq"], "an entry appended meanwhile shifts nothing"
    oldest = world.get("auditor-a", "/api/v1/audit", params={"limit": 1, "sort": "seq"}).json()
    assert oldest["items"][0]["event"] == "organisation:create"
    assert world.get("auditor-a", "/api/v1/audit", params={"event": "weather"}).status_code == 422


def test_who_may_read_it(world: World) -> None:
    assert world.get("admin-a", "/api/v1/audit").status_code == 200
    for token in ("analyst-a", "source-a", "gate-a"):
        assert world.get(token, "/api/v1/audit").status_code == 403, token


def test_dashboard_users_are_audited_within_their_organisations_subtree(world: World) -> None:
    import datetime as dt

    from appban.access import Role
    from appban.store import UserRepository

    with world.database.session() as session:
        created = UserRepository(session).create(username="ana.digit", organisation="eu-commission-dg-digit",
                                                 role=Role.AUDITOR, password="a long enough passphrase",
                                                 actor="tests", now=dt.datetime.now(dt.UTC))
    assert ("user:create", created.id) in {(e["event"], e["subject"]) for e in entries(world, "auditor-a")}
    assert not any(e["event"] == "user:create" for e in entries(world, "admin-b"))
