"""Stored assessments on SQLite and PostgreSQL: saved (audited) once per build and result, read back to the same
value, listed newest first per organisation subtree, family and app, compared with the previous build, and cited
as restriction evidence only when they exist and the issuer sees them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json

import pytest
from sqlalchemy import func, select

from appban.catalog import default_catalog
from appban.errors import InvalidInput, NotFound, StorageUnavailable
from appban.policy.restriction import parse_restriction
from appban.risk import Assessment, WorkNeed, assess, diff, to_json
from appban.service import assess_and_store, compare_with_previous
from appban.store import AssessmentRepository, AuditLog, Database, RestrictionRepository, read_report
from appban.store.tables import AssessmentRow
from tests.risk.builders import El, apk, ipa, manifest, signer

from .store_examples import ACTOR, EXAMPLES, NOW, seed_organisations

P = "android.permission."
TIKTOK = "com.zhiliaoapp.musically"
EU_RESTRICTION = (EXAMPLES / "restrictions" / "eu-commission-tiktok-2023.yaml").read_text()
SIGNER = signer("TikTok Pte. Ltd.", "SG")


def build(package: str = TIKTOK, *, version: str = "4.2.0", permissions: tuple[str, ...] = (P + "CAMERA",),
          classes: tuple[str, ...] = ("org.example.app.MainActivity",), who: object = SIGNER) -> bytes:
    root = manifest(package, permissions=list(permissions))
    root = El(root.tag, {**root.attrs, "android:versionName": version}, root.children)
    return apk(root, classes=list(classes), who=who)  # type: ignore[arg-type]


def assessed(data: bytes, name: str = "tiktok.apk", need: WorkNeed | None = None) -> Assessment:
    return assess(io.BytesIO(data), name, default_catalog(), work_need=need)


@pytest.fixture
def db(database: Database) -> Database:
    seed_organisations(database)
    return database


def save(db: Database, data: bytes, organisation: str = "eu-commission-dg-digit", *, at: dt.datetime = NOW,
         need: WorkNeed | None = None, name: str = "tiktok.apk") -> tuple[str, bool]:
    with db.session() as session:
        record, created = AssessmentRepository(session).save(assessed(data, name, need), organisation=organisation,
                                                             actor=ACTOR, now=at)
    return record.id, created


def test_a_saved_assessment_reads_back_as_the_same_value_and_is_audited(db: Database) -> None:
    value = assessed(build())
    with db.session() as session:
        record, created = AssessmentRepository(session).save(value, organisation="eu-commission-dg-digit",
                                                             actor=ACTOR, now=NOW)
    assert created and record.id.startswith("asm_") and len(record.id) == 20
    with db.session() as session:
        repository = AssessmentRepository(session)
        assert repository.get(record.id) == record
        assert repository.report(record.id) == value
        assert repository.report_text(record.id) == to_json(value)
        entries = AuditLog(session).entries()
        assert AuditLog(session).verify() == []
    assert (record.organisation, record.family, record.platform, record.app_id) == (
        "eu-commission-dg-digit", "tiktok", "android", TIKTOK)
    assert (record.version_name, record.version_code, record.build_sha256) == ("4.2.0", "42", value.file.sha256)
    assert (record.rating, record.score, record.action) == (value.rating.value, value.score, value.action.value)
    assert (record.created_at, record.created_by, record.work_need) == (NOW, ACTOR, None)
    last = entries[-1]
    assert (last.event.value, last.subject, last.actor) == ("assessment:create", record.id, ACTOR)
    assert last.details["sha256"] == value.file.sha256 and last.details["organisation"] == "eu-commission-dg-digit"


def test_an_ios_report_and_an_app_in_no_family_read_back(db: Database) -> None:
    data = ipa({"CFBundleIdentifier": "org.example.notes", "CFBundleShortVersionString": "1.0",
                "CFBundleVersion": "7", "NSCameraUsageDescription": "Scan documents"},
               profile={"TeamIdentifier": ["ABCDE12345"], "TeamName": "Example", "Entitlements": {"aps-environment":
                                                                                                  "production"}})
    value = assessed(data, "notes.ipa")
    with db.session() as session:
        record, _ = AssessmentRepository(session).save(value, organisation="eu-commission", actor=ACTOR, now=NOW)
        assert AssessmentRepository(session).report(record.id) == value
    assert (record.family, record.platform, record.version_name, record.version_code) == (None, "ios", "1.0", "7")


def test_the_same_build_with_the_same_result_is_stored_once(db: Database) -> None:
    data = build()
    first, created = save(db, data)
    again, created_again = save(db, data, at=NOW + dt.timedelta(days=1), name="tiktok.apk")
    assert created and not created_again and again == first
    other_org, created_other = save(db, data, "eu-commission-dg-comm")  # another organisation's own assessment
    needed, created_need = save(db, data, need=WorkNeed(True, "communications unit"))  # another result
    assert created_other and created_need and len({first, other_org, needed}) == 3
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AssessmentRow)) == 3
        assert AssessmentRepository(session).get(needed).work_need == "communications unit"  # type: ignore[union-attr]
        assert [e.subject for e in AuditLog(session).entries() if e.event.value == "assessment:create"] == [
            first, other_org, needed]


def test_an_unknown_organisation_stores_nothing(db: Database) -> None:
    with pytest.raises(NotFound, match="no organisation `nowhere`"):
        save(db, build(), "nowhere")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AssessmentRow)) == 0


def test_lists_are_newest_first_filtered_and_paged(db: Database) -> None:
    ids = [save(db, build(version=f"1.{i}"), at=NOW + dt.timedelta(hours=i))[0] for i in range(3)]
    signal = save(db, build("org.thoughtcrime.securesms"), "eu-commission-dg-comm", at=NOW + dt.timedelta(hours=5))[0]
    leuven = save(db, build(version="9.9"), "be-leuven", at=NOW + dt.timedelta(hours=6))[0]
    with db.session() as session:
        repository = AssessmentRepository(session)
        everything, total = repository.page()
        assert [r.id for r in everything] == [leuven, signal, *reversed(ids)] and total == 5
        eu = {"eu-commission", "eu-commission-dg-digit", "eu-commission-dg-comm"}
        assert [r.id for r in repository.page(organisations=eu)[0]] == [signal, *reversed(ids)]
        assert [r.id for r in repository.page(organisations=eu, family="tiktok")[0]] == list(reversed(ids))
        assert repository.page(organisations=eu, app_id="org.thoughtcrime.securesms")[0][0].id == signal
        assert repository.page(platform="ios") == ([], 0)
        second, total = repository.page(organisations=eu, family="tiktok", offset=1, limit=1)
        assert ([r.id for r in second], total) == ([ids[1]], 3)


def test_previous_is_the_latest_earlier_of_the_same_app_among_the_organisations_given(db: Database) -> None:
    old = save(db, build(version="1.0"), at=NOW)[0]
    theirs = save(db, build(version="1.5"), "be-leuven", at=NOW + dt.timedelta(hours=1))[0]
    save(db, build("org.thoughtcrime.securesms"), at=NOW + dt.timedelta(hours=2))
    new = save(db, build(version="2.0"), at=NOW + dt.timedelta(hours=3))[0]
    eu = {"eu-commission", "eu-commission-dg-digit", "eu-commission-dg-comm"}
    with db.session() as session:
        repository = AssessmentRepository(session)
        record = repository.get(new)
        assert record is not None
        assert repository.previous(record, eu).id == old  # type: ignore[union-attr]
        assert repository.previous(record).id == theirs  # type: ignore[union-attr]
        first = repository.get(old)
        assert first is not None and repository.previous(first) is None
        assert repository.latest("android", TIKTOK, eu).id == new  # type: ignore[union-attr]


def test_reassessing_a_newer_build_shows_what_changed(db: Database) -> None:
    with db.session() as session:
        first = assess_and_store(session, io.BytesIO(build(version="1.0")), "v1.apk", organisation="eu-commission",
                                 catalog=default_catalog(), actor=ACTOR, now=NOW)
    assert first.created and first.previous is None and first.changes is None
    newer = build(version="2.0", permissions=(P + "CAMERA", P + "RECORD_AUDIO"), classes=("com.adjust.sdk.Adjust",),
                  who=signer("Someone Else", "CN"))
    with db.session() as session:
        second = assess_and_store(session, io.BytesIO(newer), "v2.apk", organisation="eu-commission-dg-digit",
                                  catalog=default_catalog(), actor=ACTOR, now=NOW + dt.timedelta(days=30),
                                  visible={"eu-commission", "eu-commission-dg-digit"})
    assert second.created and second.previous is not None and second.previous.id == first.record.id
    changes = second.changes
    assert changes is not None
    assert changes.added_permissions == (P + "RECORD_AUDIO",) and changes.removed_permissions == ()
    assert changes.added_trackers == ("Adjust",)
    assert changes.signer_changed and (changes.previous_version, changes.current_version) == ("1.0", "2.0")
    assert changes == diff(first.assessment, second.assessment)
    with db.session() as session:
        comparison = compare_with_previous(session, second.record.id)
        assert (comparison.previous, comparison.changes) == (second.previous, changes)
        with pytest.raises(NotFound, match=f"no assessment `{second.record.id}`"):
            compare_with_previous(session, second.record.id, visible={"be-leuven"})
        with pytest.raises(NotFound):
            compare_with_previous(session, "asm_0000000000000000")


def test_a_bad_file_stores_nothing(db: Database) -> None:
    with db.session() as session, pytest.raises(InvalidInput, match=r"junk\.apk"):
        assess_and_store(session, io.BytesIO(b"not a zip"), "junk.apk", organisation="eu-commission",
                         catalog=default_catalog(), actor=ACTOR, now=NOW)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AssessmentRow)) == 0


def test_a_damaged_report_is_a_clear_error() -> None:
    value = assessed(build())
    assert read_report(to_json(value)) == value
    broken = to_json(dataclasses.replace(value, summary="x")).replace('"summary"', '"summery"')
    with pytest.raises(StorageUnavailable, match="asm_x: the stored report cannot be read"):
        read_report(broken, "asm_x")
    with pytest.raises(StorageUnavailable, match="expected int"):
        read_report(to_json(value).replace(f'"score": {value.score}', '"score": "high"'), "asm_x")


def test_a_report_stored_before_a_field_with_a_default_was_added_still_reads() -> None:
    value = assessed(build(), need=WorkNeed(True, "press office", ""))
    older = json.loads(to_json(value))
    del older["work_need"]["reason"]  # as if `reason` (default "") had been added to WorkNeed since
    assert read_report(json.dumps(older)) == value
    del older["score"]  # a field without a default is required
    with pytest.raises(StorageUnavailable, match="missing fields \\['score'\\]"):
        read_report(json.dumps(older))


def cited(*entries: str) -> str:
    evidence = "".join(f"\n  - {entry}" for entry in entries)
    return EU_RESTRICTION.replace("\nevidence:", "\nevidence:" + evidence, 1)


def apply(db: Database, text: str) -> None:
    with db.session() as session:
        RestrictionRepository(session).apply(parse_restriction(text, "eu.yaml"), actor=ACTOR, now=NOW,
                                             source_path="eu.yaml")


def test_a_restriction_cites_an_assessment_of_its_issuer_subtree(db: Database) -> None:
    ours = save(db, build())[0]  # of eu-commission-dg-digit, below the issuer eu-commission
    theirs = save(db, build(), "be-leuven")[0]
    missing = "asm_0123456789abcdef"
    text = cited(f"{{kind: assessment, title: {missing} (TikTok 4.2.0)}}",
                 f"{{kind: assessment, title: CFCS-style assessment, url: 'https://appban.example/a/{theirs}'}}",
                 "{kind: assessment, title: an assessment without its id}")
    with pytest.raises(InvalidInput) as refused:
        apply(db, text)
    lines = [str(problem) for problem in refused.value.problems]
    first_line = EU_RESTRICTION[:EU_RESTRICTION.index("\nevidence:")].count("\n") + 3
    assert lines[0].startswith(f"eu.yaml:{first_line}:")
    assert f"evidence: no assessment `{missing}` of `eu-commission`" in lines[0]
    assert lines[1].startswith(f"eu.yaml:{first_line + 1}:") and f"no assessment `{theirs}`" in lines[1]
    assert lines[2].startswith(f"eu.yaml:{first_line + 2}:") and "names no assessment" in lines[2]
    with db.session() as session:
        assert RestrictionRepository(session).all_latest() == []
    apply(db, cited(f"{{kind: assessment, title: {ours} TikTok 4.2.0 assessed by DIGIT}}"))
    with db.session() as session:
        stored = RestrictionRepository(session).latest("eu-commission-tiktok-2023")
        assert stored is not None
        assert stored.restriction.evidence[0].kind == "assessment"
    # A new version is checked again: citing another subtree's assessment is refused.
    with pytest.raises(InvalidInput, match=f"no assessment `{theirs}`"):
        apply(db, cited(f"{{kind: assessment, title: {theirs}}}").replace("grace: 20d", "grace: 21d"))
