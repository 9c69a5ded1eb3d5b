"""Who signed an APK: the certificates of the v1 (JAR), v2 and v3 signature schemes.

v1 keeps a PKCS#7 block in META-INF/*.RSA|DSA|EC; v2 and v3 keep theirs in the APK Signing Block between the
last entry and the zip central directory. The block is walked here with every length checked against what is
left of it; this reports who signed, it does not verify the signatures (the installer does that, and an
assessment of a tampered build still wants to know the claimed signer).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

__all__ = ["Certificate", "SigningInfo", "certificate_info", "read_signing_block", "v1_certificates"]

_MAGIC = b"APK Sig Block 42"
_V2 = 0x7109871A
_V3 = 0xF05368C0
_V31 = 0x1B93AD61
_MAX_BLOCK = 64 * 1024 * 1024
_MAX_CERTS = 16


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    country: str | None
    organisation: str | None
    not_before: str  # ISO 8601, UTC
    not_after: str
    serial: str
    sha256: str  # fingerprint of the DER certificate, the signer's identity on Android
    self_signed: bool
    debug: bool  # the Android SDK's auto-generated debug certificate: a build never meant for release


@dataclass(frozen=True, slots=True)
class SigningInfo:
    schemes: tuple[str, ...]  # "v1", "v2", "v3", "v3.1"
    certificates: tuple[Certificate, ...]  # distinct, in scheme order


def certificate_info(der: bytes) -> Certificate | None:
    """A readable summary of one DER certificate; None when it does not parse."""
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
        return Certificate(
            subject=subject,
            issuer=issuer,
            country=_attribute(cert.subject, NameOID.COUNTRY_NAME),
            organisation=_attribute(cert.subject, NameOID.ORGANIZATION_NAME),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            serial=format(cert.serial_number, "x"),
            sha256=hashlib.sha256(der).hexdigest(),
            self_signed=cert.subject == cert.issuer,
            debug="CN=Android Debug" in subject,
        )
    except (ValueError, TypeError, UnicodeError):
        return None


def v1_certificates(block: bytes) -> list[bytes]:
    """DER certificates of a META-INF signature block (PKCS#7 SignedData)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certs = pkcs7.load_der_pkcs7_certificates(block)
    except (ValueError, TypeError):
        return []
    return [cert.public_bytes(Encoding.DER) for cert in certs[:_MAX_CERTS]]


def read_signing_block(stream: BinaryIO) -> dict[str, list[bytes]]:
    """{"v2"/"v3"/"v3.1": [DER certificate, ...]} from the APK Signing Block; empty when there is none."""
    try:
        return _read_block(stream)
    except (struct.error, ValueError, OSError):
        return {}  # a broken block means "no v2/v3 signature found", which the report says


def _read_block(stream: BinaryIO) -> dict[str, list[bytes]]:
    stream.seek(0, 2)
    size = stream.tell()
    tail_len = min(size, 65535 + 22)
    stream.seek(size - tail_len)
    tail = stream.read(tail_len)
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(tail):
        return {}
    (cd_offset,) = struct.unpack_from("<I", tail, eocd + 16)
    if cd_offset < 32 or cd_offset > size:
        return {}
    stream.seek(cd_offset - 24)
    footer = stream.read(24)
    if len(footer) != 24 or footer[8:] != _MAGIC:
        return {}
    (block_size,) = struct.unpack_from("<Q", footer, 0)
    if block_size > _MAX_BLOCK or block_size < 24 or block_size + 8 > cd_offset:
        return {}
    stream.seek(cd_offset - block_size - 8)
    block = stream.read(block_size + 8)
    pairs = block[8:-24]
    found: dict[str, list[bytes]] = {}
    for pair_id, value in _pairs(pairs):
        scheme = {_V2: "v2", _V3: "v3", _V31: "v3.1"}.get(pair_id)
        if scheme is not None and scheme not in found:
            found[scheme] = _signer_certificates(value)
    return found


def _pairs(data: bytes) -> Iterator[tuple[int, bytes]]:
    position = 0
    while position + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, position)
        if length < 4 or position + 8 + length > len(data):
            return
        (pair_id,) = struct.unpack_from("<I", data, position + 8)
        yield pair_id, data[position + 12: position + 8 + length]
        position += 8 + length


def _prefixed(data: bytes) -> Iterator[bytes]:
    """The items of a sequence of uint32-length-prefixed items."""
    position = 0
    while position + 4 <= len(data):
        (length,) = struct.unpack_from("<I", data, position)
        if position + 4 + length > len(data):
            raise ValueError("length-prefixed item overruns its container")
        yield data[position + 4: position + 4 + length]
        position += 4 + length


def _signer_certificates(value: bytes) -> list[bytes]:
    # value: [signers: prefixed [signer: prefixed [signed data: prefixed [digests, certificates, ...]], ...]]
    certs: list[bytes] = []
    for signers in _prefixed(value):
        for signer in _prefixed(signers):
            signed_data = next(_prefixed(signer), b"")
            items = _prefixed(signed_data)
            next(items, b"")  # digests
            for cert in _prefixed(next(items, b"")):
                certs.append(cert)
                if len(certs) >= _MAX_CERTS:
                    return certs
        break
    return certs


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")
