"""Holder maps: one holder per device, read strictly, every problem named with its line."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.errors import InvalidInput
from appban.inventory import HolderAssignment, read_holder_map

SOURCE = "holders.csv"


def read(text: str | bytes) -> list[HolderAssignment]:
    return read_holder_map(io.BytesIO(text.encode() if isinstance(text, str) else text), SOURCE)


def refused(text: str | bytes) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        read(text)
    return [str(problem) for problem in caught.value.problems]


def test_a_map_reads_with_names_languages_and_lower_cased_domains() -> None:
    first, second = read("device_id,holder_email,holder_name,language\n"
                         "phone-1,An.Peeters@Example.BE,An Peeters,nl-BE\n"
                         "\n"
                         "phone-2,ben@example.eu,,\n"
                         "phone-1,An.Peeters@example.be,An Peeters,nl-BE\n")  # an identical repeat is read once
    assert (first.device_id, first.email, first.name, first.language) == (
        "phone-1", "An.Peeters@example.be", "An Peeters", "nl-BE")
    assert (second.email, second.name, second.language, second.where.line) == ("ben@example.eu", None, None, 4)


def test_every_bad_row_is_named_at_once() -> None:
    problems = refused("device_id,holder_email,language\n"
                       "phone-1,not an address,nl\n"
                       ",ana@example.eu,nl\n"
                       "phone-3,cy@example.eu,klingon!\n"
                       f"phone-4,{'x' * 400}@example.eu,en\n")
    assert problems == [
        "holders.csv:2: `holder_email` 'not an address' is not an e-mail address "
        "(one address per row, like an.peeters@example.be)",
        "holders.csv:3: `device_id` is empty",
        "holders.csv:4: `language` 'klingon!' is not a language tag (a BCP 47 tag such as nl, fr-BE or en)",
        "holders.csv:5: `holder_email` is longer than 320 characters",
    ]


def test_a_device_with_two_holders_is_refused_naming_both_lines() -> None:
    (problem,) = refused("device_id,holder_email\nphone-1,ana@example.eu\nphone-2,ben@example.eu\n"
                         "phone-1,cy@example.eu\n")
    assert problem == ("holders.csv:4: device 'phone-1' is assigned again, to cy@example.eu, but line 2 assigns it "
                       "to ana@example.eu (a device has one holder: keep one row per device)")


@pytest.mark.parametrize(("text", "fragment"), [
    (b"", "the file is empty"),
    (b"device_id\nphone-1\n", "lacks the required column `holder_email`"),
    (b"device_id,holder_mail\n", "did you mean `holder_email`?"),
    (b"device_id,holder_email\n\xff\xfe,x@y.eu\n", "not UTF-8 text"),
    (b"device_id,holder_email\nphone-1\n", "the row has 1 cells, the header names 2 columns"),
    (b'device_id,holder_email\n"phone-1,x@y.eu\n', "not valid CSV"),
    (b"device_id,holder_email\nphone\x00,x@y.eu\n", "NUL byte"),
])
def test_malformed_files_are_refused_naming_the_file(text: bytes, fragment: str) -> None:
    problems = refused(text)
    assert any(fragment in problem for problem in problems)
    assert all(problem.startswith("holders.csv:") or problem.startswith("holders.csv ") for problem in problems)


@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    try:
        assignments = read(b"device_id,holder_email\n" + data)
    except InvalidInput as error:
        assert all(str(problem).startswith("holders.csv") for problem in error.problems)
        return
    assert len({a.device_id for a in assignments}) == len(assignments)
    assert all("@" in a.email for a in assignments)
