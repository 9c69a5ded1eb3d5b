"""Restrictions through the API: files in, versions out, ETags that stop a lost update, impact, adoption."""

from __future__ import annotations

import threading
from typing import Any

from appban.store import RestrictionRepository

from .conftest import BE_RECOMMENDED, EU_RESTRICTION, World

RID = "eu-commission-tiktok-2023"
URL = f"/api/v1/restrictions/{RID}"


def edited(title: str) -> str:
    return EU_RESTRICTION.replace("title: TikTok off corporate devices and enrolled personal devices",
                                  f"title: {title}")


def test_get_carries_the_version_as_etag_and_every_version(world: World) -> None:
    response = world.get("admin-a", URL)
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert (body["version"], body["issuer"], body["managed"], body["strictness"]) == (1, "eu-commission", True,
                                                                                     "require")
    assert body["text"] == EU_RESTRICTION
    assert [v["version"] for v in body["versions"]] == [1]
    assert body["versions"][0]["applied_by"].startswith(f"token:{world.token_ids['admin-a']} (admin-a)")


def test_a_yaml_body_is_a_file_too(world: World) -> None:
    response = world.request("admin-a", "PUT", URL, content=edited("Sent as YAML").encode(),
                             headers={"Content-Type": "application/yaml", "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert response.json()["title"] == "Sent as YAML"


def test_two_admins_with_the_same_etag_the_second_is_told_what_changed(world: World) -> None:
    first = world.request("admin-a", "PUT", URL, json={"text": edited("First admin's title")},
                          headers={"If-Match": '"1"'})
    second = world.request("admin-a", "PUT", URL, json={"text": edited("Second admin's title")},
                           headers={"If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    assert second.status_code == 409, second.text
    error = second.json()["error"]
    assert error["code"] == "stale" and error["current_etag"] == '"2"'
    assert [c["version"] for c in error["changes"]] == [2]
    assert "-title: TikTok off corporate devices" in error["diff"] and "+title: First admin's title" in error["diff"]
    history = world.get("admin-a", URL).json()["versions"]
    assert [(v["version"], v["title"]) for v in history] == [
        (1, "TikTok off corporate devices and enrolled personal devices"), (2, "First admin's title")]
    retried = world.request("admin-a", "PUT", URL, json={"text": edited("Second admin's title")},
                            headers={"If-Match": error["current_etag"]})
    assert retried.status_code == 200 and retried.headers["etag"] == '"3"'


def test_concurrent_updates_from_one_version_one_wins_nothing_is_lost(world: World) -> None:
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def update(title: str) -> None:
        barrier.wait()
        results[title] = world.request("admin-a", "PUT", URL, json={"text": edited(title)},
                                       headers={"If-Match": '"1"'})

    threads = [threading.Thread(target=update, args=(title,)) for title in ("Left", "Right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in results.values())
    assert statuses == [200, 409], {t: (r.status_code, r.text) for t, r in results.items()}
    winner = next(title for title, response in results.items() if response.status_code == 200)
    with world.database.session() as session:
        history = RestrictionRepository(session).history(RID)
    assert [(item.version, item.restriction.title) for item in history][1:] == [(2, winner)]


def test_a_change_needs_if_match(world: World) -> None:
    response = world.request("admin-a", "PUT", URL, json={"text": edited("No precondition")})
    assert response.status_code == 428
    assert response.json()["error"]["where"] == "header.If-Match"
    assert world.get("admin-a", URL).json()["version"] == 1


def test_an_unchanged_file_is_no_new_version(world: World) -> None:
    response = world.request("admin-a", "PUT", URL, json={"text": EU_RESTRICTION}, headers={"If-Match": '"1"'})
    assert response.status_code == 200 and response.headers["etag"] == '"1"'


def test_a_file_for_another_id_or_a_bad_file_is_422_with_its_position(world: World) -> None:
    other = EU_RESTRICTION.replace(f"id: {RID}", "id: another-id")
    response = world.request("admin-a", "PUT", URL, json={"text": other}, headers={"If-Match": '"1"'})
    assert response.status_code == 422
    assert response.json()["error"]["where"].startswith("restriction.yaml:")
    broken = EU_RESTRICTION.replace("strictness: require", "strictness: forbid").replace("grace: 20d", "grace: 2x")
    response = world.request("admin-a", "PUT", URL, json={"text": broken, "source": "eu.yaml"},
                             headers={"If-Match": '"1"'})
    assert response.status_code == 422
    problems = response.json()["error"]["problems"]
    assert len(problems) == 2 and all(p["where"].startswith("eu.yaml:") for p in problems)
    assert world.get("admin-a", URL).json()["version"] == 1


def test_revoking_is_a_version_and_final(world: World) -> None:
    revoked = EU_RESTRICTION.replace("status: active", "status: revoked")
    response = world.request("admin-a", "PUT", URL, json={"text": revoked}, headers={"If-Match": '"1"'})
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    again = world.request("admin-a", "PUT", URL, json={"text": EU_RESTRICTION}, headers={"If-Match": '"2"'})
    assert again.status_code == 422 and "revocation is final" in again.text
    findings = world.get("admin-a", "/api/v1/findings", params={"restriction": RID}).json()
    assert findings["total"] == 0, "a revoked restriction binds nothing"


def test_an_id_in_use_is_a_conflict_and_a_parent_restriction_is_read_only(world: World) -> None:
    response = world.request("admin-a", "POST", "/api/v1/restrictions", json={"text": EU_RESTRICTION})
    assert response.status_code == 409
    url = "/api/v1/restrictions/be-federal-tiktok-personal-2023"
    seen = world.get("admin-b", url)
    assert seen.status_code == 200 and seen.json()["managed"] is False
    response = world.request("admin-b", "PUT", url, json={"text": BE_RECOMMENDED}, headers={"If-Match": '"1"'})
    assert response.status_code == 403


def test_impact_of_a_draft_stores_nothing(world: World) -> None:
    draft = (EU_RESTRICTION.replace(f"id: {RID}", "id: eu-draft").replace("status: active", "status: draft")
             .replace("family: tiktok-lite", "app: org.thoughtcrime.securesms\n    platform: android"))
    audit = world.audit_count()
    response = world.request("analyst-a", "POST", "/api/v1/restrictions/impact", json={"text": draft})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {d["device"]: d["state"] for d in body["devices"]} == {"eu/phone-1": "grace", "eu/phone-2": "grace"}
    assert body["devices_total"] == 2 and body["totals"]["grace"] == 2
    assert world.get("admin-a", "/api/v1/restrictions/eu-draft").status_code == 404
    assert world.audit_count() == audit


def test_a_municipality_adopts_a_federal_recommendation(world: World) -> None:
    url = "/api/v1/restrictions/be-federal-tiktok-personal-2023/adoptions/be-leuven"
    response = world.request("admin-b", "PUT", url, json={"adopted": True, "note": "Council decision 12/2023"})
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"] == f"token:{world.token_ids['admin-b']} (admin-b)"
    listed = world.get("admin-b", "/api/v1/restrictions/be-federal-tiktok-personal-2023/adoptions").json()
    assert [(a["organisation"], a["adopted"]) for a in listed["items"]] == [("be-leuven", True)]
    detail = world.get("admin-b", "/api/v1/restrictions/be-federal-tiktok-personal-2023").json()
    assert detail["adopted_by"] == ["be-leuven"]
    mandatory = world.request("admin-a", "PUT", f"{URL}/adoptions/eu-commission-dg-digit", json={"adopted": True})
    assert mandatory.status_code == 422 and "mandatory" in mandatory.json()["error"]["message"]
    issuer = world.request("admin-be", "PUT", "/api/v1/restrictions/be-federal-tiktok-personal-2023/adoptions/"
                           "be-federal", json={"adopted": True})
    assert issuer.status_code == 422


def test_lists_filter_and_sort(world: World) -> None:
    everything = world.get("admin-be", "/api/v1/restrictions").json()
    assert [r["id"] for r in everything["items"]] == ["be-federal-tiktok-personal-2023"]
    assert world.get("admin-a", "/api/v1/restrictions", params={"strictness": "advise"}).json()["total"] == 0
    assert world.get("admin-a", "/api/v1/restrictions", params={"managed": "true"}).json()["total"] == 1
    bad = world.get("admin-a", "/api/v1/restrictions", params={"sort": "colour"})
    assert bad.status_code == 422 and bad.json()["error"]["where"] == "query.sort"
