"""The signed feed: what it carries, that it is deterministic, and that only the key holder's exact bytes pass."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appban.errors import InvalidInput
from appban.export import (
    FEED_FORMAT,
    MAX_FEED_BYTES,
    ExportInput,
    FeedExporter,
    generate_key,
    load_private_key,
    load_public_key,
    public_key_text,
    verify_feed,
)
from appban.model import ChildPolicy
from tests.export.samples import ADVISED, OTHER, REQUIRED, belgium

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _feed() -> bytes:
    return FeedExporter(KEY).export(belgium(REQUIRED, ADVISED, OTHER)).content


FEED = _feed()


def test_feed_carries_the_issuer_restrictions_texts_versions_and_children() -> None:
    feed = verify_feed(FEED, PUBLIC, "feed.json")
    assert (feed.issuer, feed.issuer_name) == ("be-federal", "Belgian federal government")
    assert [(r.id, r.version, r.children) for r in feed.restrictions] == [
        ("be-federal-tiktok-2023", 2, ChildPolicy.RECOMMENDED),
        ("be-federal-tiktok-personal-2023", 1, ChildPolicy.RECOMMENDED),
    ]  # the US restriction is another issuer's: left out
    assert feed.restrictions[0].text == REQUIRED.text
    assert feed.issued_at is None


def test_feed_file_is_canonical_json_with_a_signed_payload() -> None:
    envelope = json.loads(FEED)
    assert set(envelope) == {"payload", "signature"}
    payload = json.loads(base64.b64decode(envelope["payload"]))
    assert payload["format"] == FEED_FORMAT
    assert set(payload["restrictions"][0]) == {"children", "id", "sha256", "text", "version"}
    assert FEED.endswith(b"}\n") and FEED.count(b"\n") == 1


def test_same_input_and_key_give_byte_identical_feeds() -> None:
    assert _feed() == FEED
    dated = ExportInput("be-federal", "Belgian federal government", (REQUIRED,), issued_at="2023-03-10T12:00:00Z")
    assert verify_feed(FeedExporter(KEY).export(dated).content, PUBLIC, "f").issued_at == "2023-03-10T12:00:00Z"


def test_another_key_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not what the key holder signed") as caught:
        verify_feed(FEED, OTHER_KEY.public_key(), "feed.json")
    assert len(caught.value.problems) == 1 and "\n" not in str(caught.value)


@pytest.mark.parametrize("length", [0, 1, 20, len(FEED) // 2, len(FEED) - 2, len(FEED) - 1])
def test_truncated_feeds_are_refused(length: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        verify_feed(FEED[:length], PUBLIC, "feed.json")
    assert len(caught.value.problems) == 1


def test_a_flipped_byte_anywhere_is_refused() -> None:
    for index in range(0, len(FEED), 7):
        for bit in (0x01, 0x20):
            mutated = bytearray(FEED)
            mutated[index] ^= bit
            with pytest.raises(InvalidInput):
                verify_feed(bytes(mutated), PUBLIC, "feed.json")


def test_re_signed_payload_changes_are_caught_by_the_signature_not_the_parser() -> None:
    envelope = json.loads(FEED)
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["restrictions"][0]["children"] = "mandatory"  # a middleman upgrading a recommendation
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    envelope["payload"] = base64.b64encode(body).decode()
    forged = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    with pytest.raises(InvalidInput, match="not what the key holder signed"):
        verify_feed(forged, PUBLIC, "feed.json")


def test_oversized_feeds_are_refused_before_reading() -> None:
    with pytest.raises(InvalidInput, match="larger than"):
        verify_feed(b" " * (MAX_FEED_BYTES + 1), PUBLIC, "feed.json")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_feeds_raise_invalid_input_and_nothing_else(data: st.DataObject) -> None:
    mutated = bytearray(FEED)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        kind = data.draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate"]), label="kind")
        if not mutated:
            break
        at = data.draw(st.integers(0, len(mutated) - 1), label="at")
        if kind == "flip":
            mutated[at] ^= data.draw(st.integers(1, 255))
        elif kind == "set":
            mutated[at] = data.draw(st.integers(0, 255))
        elif kind == "delete":
            del mutated[at]
        elif kind == "insert":
            mutated.insert(at, data.draw(st.integers(0, 255)))
        else:
            del mutated[at:]
    if bytes(mutated) == FEED:
        return
    with pytest.raises(InvalidInput) as caught:
        verify_feed(bytes(mutated), PUBLIC, "feed.json")
    assert len(caught.value.problems) == 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_invalid_input_and_nothing_else(blob: bytes) -> None:
    with pytest.raises(InvalidInput):
        verify_feed(blob, PUBLIC, "feed.json")


def test_keys_round_trip_through_their_text_forms(tmp_path: Path) -> None:
    pem, public = generate_key()
    private = load_private_key(pem, "k.pem")
    assert public_key_text(private.public_key()) == public
    assert public_key_text(load_public_key(public.encode() + b"\n", "k.pub")) == public
    signed = FeedExporter(private).export(belgium(REQUIRED)).content
    assert verify_feed(signed, load_public_key(public.encode(), "k.pub"), "f").restrictions[0].id == REQUIRED.id


@pytest.mark.parametrize("text", [b"", b"not base64!", base64.b64encode(b"short"), b"-----BEGIN PUBLIC KEY-----\nx\n"])
def test_bad_public_keys_are_one_line_errors(text: bytes) -> None:
    with pytest.raises(InvalidInput, match="not an Ed25519 public key"):
        load_public_key(text, "--key")


def test_bad_private_keys_are_one_line_errors() -> None:
    with pytest.raises(InvalidInput, match="not an unencrypted PEM private key"):
        load_private_key(b"garbage", "k.pem")
