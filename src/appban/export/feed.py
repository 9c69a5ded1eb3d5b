"""A signed feed of a parent organisation's restrictions, for child organisations or another appban to pull.

The file is one line of canonical JSON, `{"payload":"<base64>","signature":"<base64>"}`: the payload is itself
canonical JSON (sorted keys, ASCII) holding the issuer, each restriction's source text as stored, its version,
its SHA-256 and how it applies to child organisations (`children: mandatory|recommended`); the signature is
Ed25519 (RFC 8032) over the payload bytes. `verify_feed` checks the size, the canonical form and the signature
before it reads the payload, so a tampered, truncated or foreign feed is refused with one line and nothing of it
is used. Ed25519 signatures are deterministic: the same restrictions and key give byte-identical feeds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appban.errors import InvalidInput
from appban.export.interface import ExportInput, ExportOutput
from appban.model import ChildPolicy

__all__ = [
    "FEED_FORMAT",
    "MAX_FEED_BYTES",
    "Feed",
    "FeedExporter",
    "FeedRestriction",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_text",
    "verify_feed",
]

FEED_FORMAT = "appban-feed/1"
MAX_FEED_BYTES = 8 * 1024 * 1024
_SIGNATURE_BYTES = 64
_TAMPERED = "the feed is not what the key holder signed"
_TAMPERED_HINT = "it was changed, truncated or signed with another key: fetch it again and check the public key"


@dataclass(frozen=True, slots=True)
class FeedRestriction:
    """One restriction in a feed: its source text as the issuer stored it."""

    id: str
    version: int
    children: ChildPolicy
    sha256: str
    text: str


@dataclass(frozen=True, slots=True)
class Feed:
    """A verified feed."""

    issuer: str
    issuer_name: str
    restrictions: tuple[FeedRestriction, ...]
    key_id: str
    issued_at: str | None = None


class FeedExporter:
    """Signs the restrictions an organisation issued into a feed."""

    name = "feed"

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    def export(self, data: ExportInput) -> ExportOutput:
        if data.organisation is None:
            raise InvalidInput.at("--org", "a feed holds one organisation's restrictions",
                                  hint="name the issuing organisation with --org")
        notes: list[str] = []
        entries: list[dict[str, object]] = []
        for r in data.restrictions:
            if r.issuer != data.organisation:
                notes.append(f"{r.id}: left out, issued by {r.issuer}, not {data.organisation}")
                continue
            entries.append({"children": str(r.children), "id": r.id, "sha256": _sha256(r.text), "text": r.text,
                            "version": r.version})
        payload: dict[str, object] = {
            "format": FEED_FORMAT,
            "issuer": {"id": data.organisation, "name": data.organisation_name},
            "restrictions": entries,
        }
        if data.issued_at is not None:
            payload["issued_at"] = data.issued_at
        body = _canonical(payload)
        signature = self._key.sign(body)
        envelope = _envelope(body, signature)
        notes.append(f"{len(entries)} restriction(s) signed with key {key_id(self._key.public_key())}")
        return ExportOutput(filename=f"appban-{data.organisation}-feed.json", media_type="application/json",
                            content=envelope, notes=tuple(notes))


# --- keys -----------------------------------------------------------------------------------------------------


def generate_key() -> tuple[bytes, str]:
    """A new private key as unencrypted PKCS#8 PEM, and its public key as text (`public_key_text`)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, public_key_text(key.public_key())


def public_key_text(key: Ed25519PublicKey) -> str:
    """The 32 raw bytes of the public key in base64: one line to publish beside the feed."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (the first 16 hex digits of the SHA-256 of its raw bytes)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(pem: bytes, source: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (as `appban feed keygen` writes it); InvalidInput otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInput.at(source, "not an unencrypted PEM private key",
                              hint="create one with `appban feed keygen -o KEYFILE`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput.at(source, "not an Ed25519 private key", hint="create one with `appban feed keygen`")
    return key


def load_public_key(text: bytes, source: str) -> Ed25519PublicKey:
    """An Ed25519 public key: the base64 line `appban feed keygen` prints, or a PEM public key."""
    stripped = text.strip()
    try:
        if stripped.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(stripped)
            if isinstance(key, Ed25519PublicKey):
                return key
            raise ValueError("not Ed25519")
        raw = base64.b64decode(stripped, validate=True)
        if len(raw) != 32:
            raise ValueError("wrong length")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error):
        raise InvalidInput.at(source, "not an Ed25519 public key",
                              hint="give the base64 line `appban feed keygen` printed, or a PEM public key") \
            from None


# --- verification -----------------------------------------------------------------------------------------


def verify_feed(data: bytes, public_key: Ed25519PublicKey, source: str) -> Feed:
    """The feed, once its signature is checked against `public_key`; one-line InvalidInput otherwise."""
    if len(data) > MAX_FEED_BYTES:
        raise InvalidInput.at(source, f"feed is larger than {MAX_FEED_BYTES} bytes", hint=_TAMPERED_HINT)
    body, signature = _open_envelope(data, source)
    try:
        public_key.verify(signature, body)
    except InvalidSignature:
        raise InvalidInput.at(source, _TAMPERED, hint=_TAMPERED_HINT) from None
    return _read_payload(body, source, key_id(public_key))


def _open_envelope(data: bytes, source: str) -> tuple[bytes, bytes]:
    """The signed bytes and the signature; the file must be exactly the canonical envelope."""
    try:
        envelope = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput.at(source, "not an appban feed (unreadable JSON)", hint=_TAMPERED_HINT) from None
    if (not isinstance(envelope, dict) or set(envelope) != {"payload", "signature"}
            or not all(isinstance(v, str) for v in envelope.values())):
        raise InvalidInput.at(source, "not an appban feed (expected `payload` and `signature`)", hint=_TAMPERED_HINT)
    body = _strict_b64(envelope["payload"])
    signature = _strict_b64(envelope["signature"])
    if body is None or signature is None or len(signature) != _SIGNATURE_BYTES or _envelope(body, signature) != data:
        raise InvalidInput.at(source, _TAMPERED, hint=_TAMPERED_HINT)
    return body, signature


def _read_payload(body: bytes, source: str, fingerprint: str) -> Feed:
    def bad(what: str) -> InvalidInput:
        return InvalidInput.at(source, f"signed feed is malformed: {what}",
                               hint="the issuer's appban wrote an unexpected feed; ask them to export it again")

    try:
        payload: Any = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("format") != FEED_FORMAT:
        raise bad(f"format is not {FEED_FORMAT}")
    issuer = payload.get("issuer")
    if not (isinstance(issuer, dict) and isinstance(issuer.get("id"), str) and isinstance(issuer.get("name"), str)):
        raise bad("no issuer")
    issued_at = payload.get("issued_at")
    if issued_at is not None and not isinstance(issued_at, str):
        raise bad("issued_at is not text")
    entries = payload.get("restrictions")
    if not isinstance(entries, list):
        raise bad("no restrictions list")
    restrictions: list[FeedRestriction] = []
    for index, entry in enumerate(entries):
        restrictions.append(_restriction(entry, lambda what, i=index: bad(f"restrictions[{i}]: {what}")))
    return Feed(issuer=issuer["id"], issuer_name=issuer["name"], restrictions=tuple(restrictions),
                key_id=fingerprint, issued_at=issued_at)


def _restriction(entry: Any, bad: Any) -> FeedRestriction:
    if not isinstance(entry, dict):
        raise bad("not an object")
    rid, version, children, digest, text = (entry.get(k) for k in ("id", "version", "children", "sha256", "text"))
    if not isinstance(rid, str) or not rid:
        raise bad("no id")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad("version is not a positive number")
    if children not in {c.value for c in ChildPolicy}:
        raise bad("children is neither mandatory nor recommended")
    if not isinstance(text, str) or not isinstance(digest, str) or _sha256(text) != digest:
        raise bad("text does not match its sha256")
    return FeedRestriction(id=rid, version=version, children=ChildPolicy(children), sha256=digest, text=text)


def _strict_b64(text: str) -> bytes | None:
    """Decoded base64, only if `text` is exactly its canonical encoding (no spare bits, no padding games)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _envelope(body: bytes, signature: bytes) -> bytes:
    return _canonical({"payload": base64.b64encode(body).decode("ascii"),
                       "signature": base64.b64encode(signature).decode("ascii")}) + b"\n"


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
