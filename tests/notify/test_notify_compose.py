"""Composition is pure: which notices are due, never twice, digests, languages; templates in every language."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from appban.model import (
    ChildPolicy,
    Device,
    FindingState,
    Funding,
    Holder,
    Organisation,
    Ownership,
    Platform,
    Restriction,
    Scope,
    Strictness,
    Target,
    TargetKind,
)
from appban.notify import (
    LANGUAGES,
    DedupKey,
    Facts,
    Item,
    NoticeKind,
    OpenFinding,
    compose,
    due_items,
    language_of,
    render,
    week_start,
)
from appban.policy.scope import Everything

NOW = dt.datetime(2023, 2, 23, 9, 30, tzinfo=dt.UTC)
DEADLINE = NOW + dt.timedelta(days=20)
ORGS = {
    "eu": Organisation(id="eu", name="European Commission"),
    "dk": Organisation(id="dk", name="Folketinget", country="DK"),
    "dk-it": Organisation(id="dk-it", name="IT-afdelingen", parent="dk"),
    "be": Organisation(id="be", name="Federal Belgium", country="BE"),
    "be-fl": Organisation(id="be-fl", name="Vlaanderen", parent="be", country="BE"),
}


def restriction(rid: str = "r1", *, issuer: str = "eu", cuts: frozenset[str] = frozenset({"mail", "chat"}),
                **changes: object) -> Restriction:
    base = Restriction(id=rid, issuer=issuer, title=f"No TikTok ({rid})",
                       targets=(Target(TargetKind.FAMILY, "tiktok"),),
                       scope=Scope(organisations=frozenset({issuer}), devices=Everything()),
                       strictness=Strictness.REQUIRE, effective=NOW.date(), grace=dt.timedelta(days=20), cuts=cuts,
                       rationale="TikTok collects <data> & keeps it where intelligence laws reach it.")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def phone(did: str, holder: str | None, org: str = "eu", platform: Platform = Platform.ANDROID) -> Device:
    return Device(id=did, organisation=org, platform=platform, ownership=Ownership.CORPORATE, funding=Funding.FULL,
                  enrolled=True, holder=holder)


def finding(did: str, rid: str = "r1", state: FindingState = FindingState.GRACE, deadline: dt.datetime = DEADLINE,
            since: dt.datetime = NOW, shadow: bool = False) -> OpenFinding:
    return OpenFinding(device=did, restriction=rid, state=state, deadline=deadline, since=since,
                       apps=("TikTok (com.zhiliaoapp.musically)",), app_names=("TikTok",), shadow=shadow)


def facts(now: dt.datetime = NOW, findings: tuple[OpenFinding, ...] = (), **changes: object) -> Facts:
    base = Facts(now=now, restrictions={"r1": restriction(), "r2": restriction("r2", cuts=frozenset())},
                 findings=findings,
                 devices={"p1": phone("p1", "ann@x.eu"), "p2": phone("p2", "bo@x.dk", "dk-it", Platform.IOS),
                          "p3": phone("p3", None)},
                 holders={"ann@x.eu": Holder("ann@x.eu", "eu", "Ann", "nl-BE"), "bo@x.dk": Holder("bo@x.dk", "dk-it")},
                 organisations=ORGS, link=lambda d: f"https://appban.example/remediate/{d}")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_entering_grace_tells_the_holder_once_in_their_language() -> None:
    now_facts = facts(findings=(finding("p1"), finding("p2"), finding("p3")))
    first = compose(now_facts)
    assert [(n.recipient, n.kind, n.language) for n in first] == [("ann@x.eu", NoticeKind.GRACE, "nl"),
                                                                  ("bo@x.dk", NoticeKind.GRACE, "da")]
    assert first[0].key == DedupKey("ann@x.eu", NoticeKind.GRACE, "r1", "p1", DEADLINE)
    assert "15 maart 2023 om 09:30 UTC" in first[0].subject
    recorded = {key for notice in first for key in notice.keys}
    assert compose(now_facts, recorded) == []  # never twice
    later = facts(now=NOW + dt.timedelta(hours=5), findings=(finding("p1"),))
    assert compose(later, recorded) == []


def test_a_new_deadline_is_a_new_notice() -> None:
    recorded = {n.key for n in compose(facts(findings=(finding("p1"),)))}
    moved = finding("p1", deadline=DEADLINE + dt.timedelta(days=2), since=NOW + dt.timedelta(days=2))
    again = compose(facts(now=NOW + dt.timedelta(days=2), findings=(moved,)), recorded)
    assert [n.kind for n in again] == [NoticeKind.GRACE]


def test_reminder_before_the_deadline_and_cutoff_after() -> None:
    early = due_items(facts(now=DEADLINE - dt.timedelta(days=4), findings=(finding("p1"),)))
    assert [i.kind for i in early] == [NoticeKind.GRACE]
    near = due_items(facts(now=DEADLINE - dt.timedelta(days=2), findings=(finding("p1"),)))
    assert [i.kind for i in near] == [NoticeKind.GRACE, NoticeKind.REMINDER]
    # a grace period shorter than the reminder window gets no reminder on top of its grace notice
    short = due_items(facts(findings=(finding("p1", deadline=NOW + dt.timedelta(days=1)),)))
    assert [i.kind for i in short] == [NoticeKind.GRACE]
    after = due_items(facts(now=DEADLINE, findings=(finding("p1", state=FindingState.NON_COMPLIANT),)))
    assert [i.kind for i in after] == [NoticeKind.CUTOFF]
    shadow = due_items(facts(findings=(finding("p1", shadow=True),)))
    assert shadow == []


def test_restoration_follows_a_cutoff_once_the_device_no_longer_denies() -> None:
    cut = DedupKey("ann@x.eu", NoticeKind.CUTOFF, "r1", "p1", DEADLINE)
    still = due_items(facts(now=DEADLINE + dt.timedelta(days=1), cutoffs=(cut,),
                            findings=(finding("p1", state=FindingState.NON_COMPLIANT),)))
    assert [i.kind for i in still] == [NoticeKind.CUTOFF]
    gone = due_items(facts(now=DEADLINE + dt.timedelta(days=2), cutoffs=(cut,)))
    assert [i.key for i in gone] == [DedupKey("ann@x.eu", NoticeKind.RESTORED, "r1", "p1", DEADLINE)]


def test_several_restrictions_for_one_holder_make_one_digest() -> None:
    sent = compose(facts(findings=(finding("p1"), finding("p1", "r2"))))
    assert len(sent) == 1
    digest = sent[0]
    assert digest.kind is NoticeKind.GRACE and len(digest.keys) == 2
    assert digest.subject.startswith("2 berichten")
    assert "No TikTok (r1)" in digest.text and "No TikTok (r2)" in digest.text
    mixed = compose(facts(now=DEADLINE, findings=(finding("p1", state=FindingState.NON_COMPLIANT),
                                                 finding("p1", "r2", deadline=DEADLINE + dt.timedelta(days=9)))))
    assert [n.kind for n in mixed] == [NoticeKind.DIGEST]


def test_language_falls_back_from_holder_to_organisation_to_english() -> None:
    assert language_of(Holder("a@x", "eu", language="fr-BE"), "eu", ORGS) == "fr"
    assert language_of(Holder("a@x", "eu", language="pt"), "dk-it", ORGS) == "da"  # no Portuguese: the org's
    assert language_of(None, "dk-it", ORGS) == "da"  # inherited from the parent's country
    assert language_of(None, "be-fl", ORGS) == "en"  # Belgium: three languages, none assumed
    assert language_of(None, "eu", ORGS) == "en"
    assert language_of(None, None, ORGS) == "en"


def test_owner_notices_review_expiry_adoption_and_weekly_summary() -> None:
    recommended = restriction("be-rule", issuer="be", children=ChildPolicy.RECOMMENDED,
                              review=NOW.date() + dt.timedelta(days=10), expires=NOW.date() + dt.timedelta(days=180))
    owners = {"be": ("sec@be.example",), "be-fl": ("ciso@vlaanderen.example",)}
    items = due_items(facts(restrictions={"be-rule": recommended}, owners=owners,
                            summaries={"be": {("be-rule", FindingState.GRACE): 3}}))
    kinds = sorted((i.key.recipient, i.kind) for i in items)
    assert kinds == [("ciso@vlaanderen.example", NoticeKind.ADOPTION), ("ciso@vlaanderen.example", NoticeKind.SUMMARY),
                     ("sec@be.example", NoticeKind.REVIEW), ("sec@be.example", NoticeKind.SUMMARY)]
    summary = next(i for i in items if i.kind is NoticeKind.SUMMARY and i.key.recipient == "sec@be.example")
    assert summary.key.deadline == week_start(NOW) and summary.counts == (("No TikTok (be-rule)", "grace", 3),)
    decided = due_items(facts(restrictions={"be-rule": recommended}, owners=owners,
                              decided={"be-rule": frozenset({"be-fl"})}, now=NOW + dt.timedelta(days=170)))
    assert sorted(i.kind for i in decided if i.kind is not NoticeKind.SUMMARY) == [NoticeKind.EXPIRY, NoticeKind.REVIEW]


def _every_item() -> list[Item]:
    key = DedupKey("x@y", NoticeKind.GRACE, "r1", "p1", DEADLINE)
    holder = {"restriction_id": "r1", "restriction": "No <TikTok>", "rationale": "Because <b>data</b>",
              "apps": ("TikTok (com.zhiliaoapp.musically)", "Douyin (com.ss.android.ugc.aweme)"),
              "app_names": ("TikTok", "Douyin"), "device_id": "p1", "services": ("chat", "mail"),
              "link": "https://appban.example/remediate/abc.def"}
    items = [Item(key=dataclasses.replace(key, kind=kind), platform=platform, **holder)  # type: ignore[arg-type]
             for kind in (NoticeKind.GRACE, NoticeKind.REMINDER, NoticeKind.CUTOFF, NoticeKind.RESTORED)
             for platform in ("android", "ios", "ipados", "windows", "macos")]
    items.append(Item(key=dataclasses.replace(key, kind=NoticeKind.CUTOFF), platform="android",
                      **{**holder, "services": ()}))  # type: ignore[arg-type]
    owner = {"restriction_id": "r1", "restriction": "No TikTok", "date": NOW.date(), "issuer": "Federal Belgium",
             "organisation": "Vlaanderen"}
    items += [Item(key=DedupKey("o@y", kind, "r1", None, NOW), overdue=overdue, **owner)  # type: ignore[arg-type]
              for kind in (NoticeKind.REVIEW, NoticeKind.EXPIRY, NoticeKind.ADOPTION) for overdue in (False, True)]
    items.append(Item(key=DedupKey("o@y", NoticeKind.SUMMARY, None, "be", NOW), organisation="Belgium",
                      date=NOW.date(), counts=(("No TikTok", "grace", 2), ("No TikTok", "unknown", 1))))
    items.append(Item(key=DedupKey("o@y", NoticeKind.SUMMARY, None, "be", NOW), organisation="Belgium",
                      date=NOW.date()))
    return items


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_renders_in_every_language_without_missing_values(language: str) -> None:
    items = _every_item()
    for item in items:  # StrictUndefined: a phrase naming a missing value raises
        subject, text, html = render(language, "Åse", [item])
        assert subject and "\n" not in subject and "{{" not in text + html and "{%" not in text + html
        assert "<TikTok>" not in html  # escaped in HTML
        if item.link:
            assert item.link in text and f'href="{item.link}"' in html
    subject, text, html = render(language, None, items)
    assert subject.startswith(str(len(items)))
    assert "&lt;b&gt;data&lt;/b&gt;" in html and "<b>data</b>" in text
    assert f'<html lang="{language}">' in html


def test_the_five_catalogues_have_the_same_phrases() -> None:
    from appban.notify.render import catalogue

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {key: shape(inner) for key, inner in value.items()}
        return len(value) if isinstance(value, list) else type(value).__name__

    english = shape(catalogue("en"))
    for language in LANGUAGES:
        assert shape(catalogue(language)) == english, language
