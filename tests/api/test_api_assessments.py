"""`/api/v1/assessments`: an uploaded build assessed and stored, the same build recognised, a newer build compared
with the last one, lists per family and app, bad files and oversize bodies refused with nothing stored, and each
organisation seeing only its subtree's assessments."""

from __future__ import annotations

from typing import Any

from appban.store import AssessmentRepository
from tests.risk.builders import El, apk, manifest, signer, zip_bytes

from .conftest import EU_RESTRICTION, TIKTOK, World

P = "android.permission."
APK_TYPE = {"Content-Type": "application/vnd.android.package-archive"}
SIGNER = signer("TikTok Pte. Ltd.", "SG")


def build(version: str = "1.0", permissions: tuple[str, ...] = (P + "CAMERA",),
          classes: tuple[str, ...] = ("org.example.app.MainActivity",), package: str = TIKTOK,
          who: Any = SIGNER) -> bytes:
    root = manifest(package, permissions=list(permissions))
    return apk(El(root.tag, {**root.attrs, "android:versionName": version}, root.children), classes=list(classes),
               who=who)


def post(world: World, token: str, data: bytes, **params: str) -> Any:
    return world.request(token, "POST", "/api/v1/assessments", content=data, params=params, headers=APK_TYPE)


def stored_count(world: World) -> int:
    with world.database.session() as session:
        return AssessmentRepository(session).page()[1]


def test_an_analyst_assesses_a_build_and_the_same_build_is_recognised(world: World) -> None:
    audit = world.audit_count()
    data = build()
    created = post(world, "analyst-a", data, name="tiktok-1.0.apk", need="communications unit")
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/api/v1/assessments/{body['id']}"
    assert body["id"].startswith("asm_") and body["created"] is True and body["changes"] is None
    assert (body["organisation"], body["family"], body["platform"], body["app_id"]) == (
        "eu-commission", "tiktok", "android", TIKTOK)
    assert (body["version_name"], body["file_name"], body["work_need"]) == ("1.0", "tiktok-1.0.apk",
                                                                            "communications unit")
    assert body["created_by"] == f"token:{world.token_ids['analyst-a']} (analyst-a)"
    report = body["report"]
    assert report["file"]["sha256"] == body["build_sha256"] and report["publisher"]["controller"] == "bytedance"
    assert (report["rating"], report["score"], report["action"]) == (body["rating"], body["score"], body["action"])
    assert report["work_need"] == {"needed": True, "who": "communications unit", "reason": ""}
    assert world.audit_count() == audit + 1

    again = post(world, "analyst-a", data, name="renamed.apk", need="communications unit")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["id"] == body["id"] and world.audit_count() == audit + 1 and stored_count(world) == 1


def test_a_newer_build_shows_what_changed_since_the_last_one(world: World) -> None:
    first = post(world, "analyst-a", build("1.0"), name="v1.apk").json()
    newer = build("2.0", permissions=(P + "CAMERA", P + "READ_CONTACTS"), classes=("com.adjust.sdk.Adjust",),
                  who=signer("Someone Else", "CN"))
    second = post(world, "admin-a", newer, name="v2.apk", organisation="eu-commission-dg-digit")
    assert second.status_code == 201, second.text
    changes = second.json()["changes"]
    assert changes["previous"] == first["id"] and changes["changed"] is True
    assert (changes["previous_version"], changes["current_version"]) == ("1.0", "2.0")
    assert changes["added_permissions"] == [P + "READ_CONTACTS"] and changes["removed_permissions"] == []
    assert changes["added_trackers"] == ["Adjust"] and changes["signer_changed"] is True
    assert changes["previous_signers"] != changes["current_signers"]
    assert second.json()["organisation"] == "eu-commission-dg-digit"

    shown = world.get("auditor-a", f"/api/v1/assessments/{second.json()['id']}")
    assert shown.status_code == 200
    assert shown.json()["changes"] == changes and shown.json()["report"] == second.json()["report"]
    assert world.get("auditor-a", f"/api/v1/assessments/{first['id']}").json()["changes"] is None


def test_lists_are_newest_first_filtered_and_paged(world: World) -> None:
    ids = [post(world, "analyst-a", build(f"1.{i}"), name=f"v{i}.apk").json()["id"] for i in range(3)]
    other = post(world, "analyst-a", build(package="org.example.notes"), name="notes.apk").json()["id"]
    listed = world.get("auditor-a", "/api/v1/assessments").json()
    assert [a["id"] for a in listed["items"]] == [other, *reversed(ids)] and listed["total"] == 4
    assert "report" not in listed["items"][0]
    tiktok = world.get("auditor-a", "/api/v1/assessments", params={"family": "tiktok"}).json()
    assert [a["id"] for a in tiktok["items"]] == list(reversed(ids))
    notes = world.get("auditor-a", "/api/v1/assessments", params={"app": "org.example.notes"}).json()
    assert [a["id"] for a in notes["items"]] == [other] and notes["items"][0]["family"] is None
    assert world.get("auditor-a", "/api/v1/assessments", params={"platform": "ios"}).json()["total"] == 0
    assert world.get("auditor-a", "/api/v1/assessments",
                     params={"organisation": "eu-commission-dg-comm"}).json()["total"] == 0
    page = world.get("auditor-a", "/api/v1/assessments", params={"family": "tiktok", "limit": 2}).json()
    assert [a["id"] for a in page["items"]] == [ids[2], ids[1]] and page["next"]
    rest = world.get("auditor-a", "/api/v1/assessments",
                     params={"family": "tiktok", "limit": 2, "cursor": page["next"]}).json()
    assert [a["id"] for a in rest["items"]] == [ids[0]] and rest["next"] is None
    mixed = world.get("auditor-a", "/api/v1/assessments", params={"limit": 2, "cursor": page["next"]})
    assert mixed.status_code == 422 and mixed.json()["error"]["where"] == "query.cursor"


def test_each_organisation_sees_and_compares_with_its_own_subtree_only(world: World) -> None:
    ours = post(world, "analyst-a", build("1.0"), name="v1.apk").json()["id"]
    theirs = post(world, "admin-b", build("2.0"), name="v2.apk")
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["organisation"] == "be-leuven"
    assert theirs.json()["changes"] is None  # A's earlier assessment of the same app is not B's to compare with
    unknown = world.get("admin-b", "/api/v1/assessments/asm_0000000000000000")
    hidden = world.get("admin-b", f"/api/v1/assessments/{ours}")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["message"].replace(ours, "asm_0000000000000000") == unknown.json()["error"]["message"]
    assert [a["id"] for a in world.get("admin-b", "/api/v1/assessments").json()["items"]] == [theirs.json()["id"]]
    assert world.get("admin-a", "/api/v1/assessments").json()["items"][0]["id"] == ours
    outside = post(world, "admin-b", build("3.0"), organisation="eu-commission")
    assert outside.status_code == 422 and outside.json()["error"]["where"] == "query.organisation"


def test_roles_without_assess_or_manage_may_not_create(world: World) -> None:
    for token in ("auditor-a", "source-a", "gate-a"):
        response = post(world, token, build())
        assert response.status_code == 403, (token, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    assert post(world, "admin-a", build()).status_code == 201
    assert stored_count(world) == 1


def test_a_bad_file_is_422_naming_the_problem_and_stores_nothing(world: World) -> None:
    audit = world.audit_count()
    for data in (b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40):
        response = post(world, "analyst-a", data, name="junk.apk")
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_input" and error["message"].startswith("junk.apk")
    traversal = post(world, "analyst-a", zip_bytes({"AndroidManifest.xml": b"x", "../../evil": b"x"}), name="t.apk")
    assert traversal.status_code == 422 and "path traversal" in traversal.json()["error"]["message"]
    assert stored_count(world) == 0 and world.audit_count() == audit


def test_an_oversize_body_is_413_and_another_media_type_415(world: World) -> None:
    limit = world.app.state.appban.limits.upload
    big = build(classes=("org.example.app.MainActivity",)) + b"\x00" * (limit + 1)
    response = post(world, "analyst-a", big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    wrong = world.request("analyst-a", "POST", "/api/v1/assessments", content=build(),
                          headers={"Content-Type": "application/json"})
    assert wrong.status_code == 415 and wrong.json()["error"]["code"] == "unsupported_media_type"
    plain = world.request("analyst-a", "POST", "/api/v1/assessments", content=build(),
                          headers={"Content-Type": "application/octet-stream"})
    assert plain.status_code == 201
    assert stored_count(world) == 1


def test_a_restriction_published_through_the_api_cites_a_visible_assessment(world: World) -> None:
    ours = post(world, "analyst-a", build()).json()["id"]
    theirs = post(world, "admin-b", build("9.0")).json()["id"]

    def publish(cited: str) -> Any:
        text = EU_RESTRICTION.replace("grace: 20d", "grace: 25d").replace(
            "\nevidence:", f"\nevidence:\n  - {{kind: assessment, title: {cited} TikTok assessment}}", 1)
        return world.request("admin-a", "PUT", "/api/v1/restrictions/eu-commission-tiktok-2023",
                             json={"text": text, "source": "eu.yaml"}, headers={"If-Match": '"1"'})

    refused = publish(theirs)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["where"].startswith("eu.yaml:") and theirs in error["message"]
    accepted = publish(ours)
    assert accepted.status_code == 200, accepted.text
    assert {"title": f"{ours} TikTok assessment", "url": None, "kind": "assessment"} in accepted.json()["evidence"]


def test_a_build_over_the_body_limit_is_taken_up_to_the_upload_limit(world: World) -> None:
    limits = world.app.state.appban.limits
    assert limits.body < limits.upload
    big = build() + b"\x00" * (limits.body + 1)  # past the body limit: judged as a build (here a broken one), not cut
    response = post(world, "analyst-a", big, name="big.apk")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"


def test_the_audit_entry_of_an_assessment_is_seen_in_its_subtree_only(world: World) -> None:
    created = post(world, "analyst-a", build(), name="v1.apk").json()["id"]

    def seen(token: str) -> list[str]:
        items = world.get(token, "/api/v1/audit", params={"event": "assessment:create", "limit": 500}).json()["items"]
        return [item["subject"] for item in items]

    assert seen("auditor-a") == [created]
    assert seen("admin-b") == []
