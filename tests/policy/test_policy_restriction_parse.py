"""Reading restriction files: the examples, and every kind of mistake a person makes in one."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appban.errors import InvalidInput
from appban.model import ChildPolicy, Lifecycle, Strictness, TargetKind, UnknownCounts
from appban.policy import AnyOf, parse_restriction
from appban.yamldoc import MAX_DOCUMENT_BYTES

from .seed import restriction, restriction_files

PLACE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): ")

VALID = """\
id: test-ban
issuer: eu-commission
title: A test ban
targets:
  - family: tiktok
strictness: require
grace: 2w
cuts: [mail]
effective: 2024-01-01
"""


def problems_of(text: str, source: str = "ban.yaml") -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_restriction(text, source)
    return [str(p) for p in caught.value.problems]


def test_every_example_parses() -> None:
    ids = {restriction(path.stem).id for path in restriction_files()}
    assert ids == {path.stem for path in restriction_files()}
    assert len(ids) >= 5


def test_the_commission_restriction_reads_as_decided() -> None:
    eu = restriction("eu-commission-tiktok-2023")
    assert eu.strictness is Strictness.REQUIRE
    assert eu.cuts == frozenset({"mail", "chat"})
    assert eu.grace == dt.timedelta(days=20)
    assert eu.effective + eu.grace == dt.date(2023, 3, 15)
    assert isinstance(eu.scope.devices, AnyOf)
    assert eu.children is ChildPolicy.MANDATORY
    assert [t.value for t in eu.targets] == ["tiktok", "tiktok-lite"]


def test_belgian_restriction_runs_six_months_and_is_recommended_below() -> None:
    be = restriction("be-federal-tiktok-2023")
    assert be.children is ChildPolicy.RECOMMENDED
    assert be.expires == dt.date(2023, 9, 10)
    assert be.review is not None and be.review < be.expires


def test_pafaca_targets_bytedance_and_what_it_controls() -> None:
    (target,) = restriction("us-pafaca-2024").targets
    assert target.kind is TargetKind.PUBLISHER
    assert (target.value, target.controlled, target.control_test) == ("bytedance", True, "pafaca-2024")


def test_defaults() -> None:
    parsed = parse_restriction(VALID, "ban.yaml").restriction
    assert parsed.status is Lifecycle.ACTIVE
    assert parsed.scope.organisations == frozenset({"eu-commission"})
    assert parsed.unknown_counts_as is UnknownCounts.NON_COMPLIANT
    assert parsed.grace == dt.timedelta(weeks=2)
    assert not parsed.shadow


def test_three_mistakes_give_three_located_lines() -> None:
    text = VALID.replace("strictness: require", "strictnes: require").replace(
        "grace: 2w", "grace: fortnight").replace("effective: 2024-01-01", "effective: 2024-01-01\nexpires: 2023-06-01")
    lines = problems_of(text)
    # the misspelt key is both unknown and leaves `strictness` missing; the duration and the dates are wrong
    located = [line for line in lines if PLACE.match(line)]
    assert located == lines
    assert any("unknown key `strictnes`" in line and "did you mean `strictness`?" in line for line in lines)
    assert any(line.startswith("ban.yaml:7:8: `grace` must be a duration") for line in lines)
    assert any(line.startswith("ban.yaml:10:10: `expires` (2023-06-01) is not after") for line in lines)


def test_exactly_three_independent_mistakes() -> None:
    text = VALID.replace("family: tiktok", "family: [tiktok]").replace("cuts: [mail]", "cuts: [Mail Service]") \
        .replace("title: A test ban", "title: A test ban\nshadow: maybe")
    lines = problems_of(text)
    assert len(lines) == 3, lines
    assert [PLACE.match(line).group("line") for line in lines] == ["4", "6", "9"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "expected"), [
    ("- just\n- a list\n", "ban.yaml:1:1: a restriction must be a mapping"),
    ("id: [unclosed\n", "ban.yaml:2:1: not valid YAML"),
    ("id: a\nid: b\n", "not valid YAML"),
    ("a: &x 1\nb: *x\n", "ban.yaml:2:4: YAML aliases (*name) are not allowed"),
    ("a: " + "[" * 5000, "ban.yaml: brackets nest deeper than 64 levels"),  # refused at once, not after seconds
    (VALID.replace("strictness: require", "strictness: requir"), "did you mean `require`?"),
    (VALID.replace("id: test-ban", "id: Test Ban"), "ban.yaml:1:5: `id` 'Test Ban' is not valid"),
    (VALID + "status: expired\n", "`status` cannot be `expired`"),
    (VALID + "review: 2023-01-01\n", "`review` (2023-01-01) is before `effective`"),
    (VALID.replace("require", "advise"), "an advisory restriction cuts no services"),
    (VALID.replace("- family: tiktok", "- family: tiktok\n    publisher: bytedance"), "exactly one of"),
    (VALID + "scope:\n  devices:\n    ownership: company\n", "`ownership` cannot be 'company'"),
    (VALID + "scope:\n  devices:\n    any_of: []\n", "`any_of` must be a non-empty list"),
    (VALID + "scope:\n  devices: {}\n", "an empty device selector"),
    (VALID.replace("targets:\n  - family: tiktok", "targets: []"), "`targets` must be a non-empty list"),
    (VALID + "evidence:\n  - url: ftp://x\n", "evidence entry has no `title`"),
])
def test_bad_input_is_located_and_explained(text: str, expected: str) -> None:
    assert any(expected in line for line in problems_of(text)), problems_of(text)


def test_missing_required_fields_are_all_reported() -> None:
    lines = problems_of("rationale: nothing else\n")
    for key in ("id", "issuer", "title", "targets", "strictness", "effective"):
        assert any(f"has no `{key}`" in line for line in lines), key


def test_oversize_document_is_refused_before_parsing() -> None:
    text = "rationale: " + "x" * (MAX_DOCUMENT_BYTES + 1)
    assert problems_of(text) == [f"ban.yaml: file is larger than {MAX_DOCUMENT_BYTES // 1024} KiB "
                                 "(a policy file holds one restriction; split it)"]


def test_deeply_nested_selectors_are_refused() -> None:
    nested = "ownership: corporate"
    for _ in range(12):
        nested = "not:\n" + "\n".join("  " + line for line in nested.splitlines())
    text = VALID + "scope:\n  devices:\n" + "\n".join("    " + line for line in nested.splitlines()) + "\n"
    assert any("nest deeper than" in line for line in problems_of(text))


def test_content_hash_ignores_line_endings_only() -> None:
    a = parse_restriction(VALID, "a.yaml")
    b = parse_restriction(VALID.replace("\n", "\r\n"), "b.yaml")
    c = parse_restriction(VALID.replace("A test ban", "Another ban"), "c.yaml")
    assert a.content_hash == b.content_hash != c.content_hash


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_gives_a_restriction_or_located_problems(text: str) -> None:
    try:
        parse_restriction(text, "fuzz.yaml")
    except InvalidInput as error:
        assert all(str(p).startswith("fuzz.yaml") for p in error.problems)


KEYS = ["id", "issuer", "title", "targets", "strictness", "grace", "cuts", "effective", "expires", "scope",
        "children", "shadow", "status", "rationale", "evidence", "unknown_counts_as"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["tiktok", "require", "advise", "2w", "2024-01-01", "eu-commission", "[]", "{}", "- a", "x: y"]))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), SCALARS, max_size=10))
def test_structured_garbage_never_crashes(fields: dict[str, object]) -> None:
    text = "\n".join(f"{key}: {value if value is not None else ''}" for key, value in fields.items())
    try:
        parse_restriction(text, "fuzz.yaml")
    except InvalidInput as error:
        assert error.problems
