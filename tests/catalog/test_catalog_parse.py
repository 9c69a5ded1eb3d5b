"""Reading catalogue files: good files build the catalogue, bad ones give one FILE:LINE:COLUMN line per mistake."""

from __future__ import annotations

import re
import textwrap
from decimal import Decimal

import pytest

from appban.catalog import parse_catalog
from appban.errors import InvalidInput
from appban.model import App, JurisdictionBasis, Platform

PUBLISHERS = textwrap.dedent("""\
    publishers:
      - id: acme
        name: Acme Ltd.
        source: company filing
        jurisdictions:
          - country: CN
            basis: headquarters
            source: filing
      - id: acme-sub
        name: Acme Sub
        source: filing
    links:
      - parent: acme
        child: acme-sub
        share: 19.9
        source: filing
        note: just under the test
""")

FAMILIES = textwrap.dedent("""\
    families:
      - id: widget
        name: Widget
        publisher: acme-sub
        source: store listing
        apps:
          - variant: global
            platforms: [android]
            identifier: com.acme.widget
            source: Google Play listing
          - variant: global
            platforms: [ios, ipados]
            identifier: com.acme.Widget
            source: App Store listing
""")

LOCATED = re.compile(r"^(?P<file>[\w./-]+\.yaml):(?P<line>\d+):(?P<column>\d+): .+")


def problems(publishers: str = PUBLISHERS, families: str = FAMILIES) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_catalog(publishers, families)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems)
    for line in lines:
        assert LOCATED.match(line), line
    return lines


def test_a_good_pair_of_files_builds_the_catalogue() -> None:
    catalog = parse_catalog(PUBLISHERS, FAMILIES)
    assert set(catalog.publishers) == {"acme", "acme-sub"}
    (jurisdiction,) = catalog.publishers["acme"].jurisdictions
    assert (jurisdiction.country, jurisdiction.basis) == ("CN", JurisdictionBasis.HEADQUARTERS)
    (link,) = catalog.links
    assert (link.parent, link.child, link.share, link.direction) == ("acme", "acme-sub", Decimal("19.9"), False)
    assert link.source == "filing Note: just under the test"
    widget = catalog.families["widget"]
    assert widget.apps == {App(Platform.ANDROID, "com.acme.widget"), App(Platform.IOS, "com.acme.Widget"),
                           App(Platform.IPADOS, "com.acme.Widget")}
    assert catalog.identity_sources[App(Platform.IOS, "com.acme.Widget")] == "App Store listing"


def test_each_mistake_points_at_its_line_and_column() -> None:
    bad = PUBLISHERS.replace("basis: headquarters", "basis: headquarter").replace("share: 19.9", "share: 120")
    assert problems(publishers=bad) == [
        "publishers.yaml:7:16: unknown basis `headquarter` (did you mean `headquarters`?)",
        "publishers.yaml:15:12: `share` 120 is outside 0..100 (a stake is a percentage from 0 to 100)",
    ]


def test_several_mistakes_in_one_file_give_several_problems() -> None:
    bad = textwrap.dedent("""\
        publishers:
          - id: acme
            nme: Acme
            source: filing
          - id: acme
            name: Acme again
            source: filing
            jurisdictions:
              - country: cn
                basis: incorporation
                source: filing
        links:
          - parent: acme
            child: acmee
            share: 50
            source: filing
    """)
    assert problems(publishers=bad, families=FAMILIES.replace("acme-sub", "acme")) == [
        "publishers.yaml:2:5: `name` is missing (add `name:`)",
        "publishers.yaml:3:5: unknown key `nme` in a publisher (did you mean `name`?)",
        "publishers.yaml:5:9: publisher id `acme` is used twice (also at publishers.yaml:2:9) "
        "(give each publisher its own id)",
        "publishers.yaml:9:18: `country` 'cn' is not valid (an ISO 3166-1 alpha-2 code in capitals, like `CN` "
        "or `KY`)",
        "publishers.yaml:14:12: unknown publisher `acmee` (did you mean `acme`?)",
    ]


def test_wrong_types_are_reported() -> None:
    bad = PUBLISHERS.replace("share: 19.9", "share: lots").replace("name: Acme Sub", "name: [Acme]")
    assert problems(publishers=bad) == [
        "publishers.yaml:10:11: `name` must be text, not a list",
        "publishers.yaml:15:12: `share` must be a percentage from 0 to 100, not the text 'lots' "
        "(write 19.9 for 19.9 %, or null when the stake is not public)",
    ]


def test_a_missing_source_is_a_problem() -> None:
    bad = PUBLISHERS.replace("        source: filing\n  - id: acme-sub", "  - id: acme-sub")
    assert bad != PUBLISHERS
    assert problems(publishers=bad) == [
        "publishers.yaml:6:9: `source` is missing (say where this is publicly reported)"]


def test_a_link_with_neither_share_nor_direction_says_nothing() -> None:
    bad = PUBLISHERS.replace("    share: 19.9\n", "")
    assert problems(publishers=bad) == [
        "publishers.yaml:13:5: an ownership link needs a `share` or `direction: true` "
        "(record the stake, or that the parent directs the child)"]


def test_a_link_listed_twice_is_refused() -> None:
    bad = PUBLISHERS + "  - {parent: acme, child: acme-sub, share: 90, source: filing}\n"
    assert problems(publishers=bad) == [
        "publishers.yaml:18:5: the link from `acme` to `acme-sub` is listed twice "
        "(also at publishers.yaml:13:5) (merge them into one link)"]


def test_stakes_over_one_hundred_percent_in_total() -> None:
    over = textwrap.dedent("""\
        publishers:
          - {id: a, name: A, source: s}
          - {id: b, name: B, source: s}
          - {id: c, name: C, source: s}
        links:
          - {parent: a, child: c, share: 60, source: s}
          - {parent: b, child: c, share: 50.5, source: s}
    """)
    families = FAMILIES.replace("acme-sub", "a")
    assert problems(publishers=over, families=families) == [
        "publishers.yaml:7:34: the stakes recorded in `c` add up to 110.5 %, more than 100 % "
        "(check the shares of every link to this company)"]


def test_a_link_to_itself_is_refused() -> None:
    bad = PUBLISHERS.replace("child: acme-sub", "child: acme")
    assert problems(publishers=bad) == [
        "publishers.yaml:14:12: `acme` cannot own itself (check `parent` and `child`)"]


def test_family_mistakes_are_reported_in_the_families_file() -> None:
    bad = (FAMILIES.replace("platforms: [android]", "platforms: [andriod]")
           .replace("publisher: acme-sub", "publisher: acme-subb")
           .replace("identifier: com.acme.Widget", "identifier: com acme widget")
           .replace("    source: store listing\n", "    source: store listing\n    owner: acme\n"))
    assert problems(families=bad) == [
        "families.yaml:4:16: unknown publisher `acme-subb` (did you mean `acme-sub`?)",
        "families.yaml:6:5: unknown key `owner` in an app family (valid keys: id, name, publisher, source, apps)",
        "families.yaml:9:21: unknown platform `andriod` (did you mean `android`?)",
        "families.yaml:14:21: `com acme widget` is not a valid ios identifier "
        "(a bundle id looks like `com.example.app`)",
    ]


def test_an_identity_in_two_families_is_refused() -> None:
    second = textwrap.indent(textwrap.dedent("""\
          - id: gadget
            name: Gadget
            publisher: acme
            source: store listing
            apps:
              - variant: copy
                platforms: [android]
                identifier: com.acme.widget
                source: Google Play listing
    """), "  ")
    assert problems(families=FAMILIES + second) == [
        "families.yaml:20:9: android:com.acme.widget is already listed for family `widget` at "
        "families.yaml:7:9 (an identity belongs to exactly one family)"]


def test_duplicate_family_ids_are_refused() -> None:
    again = FAMILIES + FAMILIES.removeprefix("families:\n").replace("com.acme", "org.acme")
    assert problems(families=again) == [
        "families.yaml:15:9: family id `widget` is used twice (also at families.yaml:2:9) "
        "(give each family its own id)"]


def test_a_windows_identity_must_be_a_package_family_name() -> None:
    bad = FAMILIES.replace("platforms: [android]\n        identifier: com.acme.widget",
                           "platforms: [windows]\n        identifier: Acme.Widget")
    lines = problems(families=bad)
    assert len(lines) == 1
    assert lines[0].startswith("families.yaml:9:21: `Acme.Widget` is not a valid windows identifier")
    good = bad.replace("Acme.Widget", "Acme.Widget_8wekyb3d8bbwe")
    assert App(Platform.WINDOWS, "Acme.Widget_8wekyb3d8bbwe") in parse_catalog(PUBLISHERS, good).families[
        "widget"].apps


def test_yaml_syntax_errors_are_located() -> None:
    lines = problems(publishers="publishers:\n  - id: [acme\n")
    assert len(lines) == 1
    assert lines[0].startswith("publishers.yaml:3:1: not valid YAML")


def test_unknown_publishers_are_not_reported_when_the_publishers_file_is_broken() -> None:
    lines = problems(publishers="publishers: {")
    assert all(line.startswith("publishers.yaml:") for line in lines)


def test_a_file_that_is_not_a_mapping() -> None:
    assert problems(families="- widget\n") == [
        "families.yaml:1:1: the families file must be a mapping of keys to values, not a list"]
    assert problems(families="families: []\n") == [
        "families.yaml:1:11: `families` is empty (list at least one app family)"]


def test_problems_carry_custom_file_names() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_catalog(PUBLISHERS, "families: [}", families_source="data/families.yaml")
    assert str(caught.value).startswith("data/families.yaml:1:")
    assert caught.value.exit_code == 2
