"""Who signed an APK: the certificates of the v1 (JAR), v2 and v3 signature schemes.

v1 keeps a PKCS#7 block in META-INF/*.RSA|DSA|EC; v2 and v3 keep theirs in the APK Signing Block between the
last entry and the zip central directory. The block is walked here with every length checked against what is
left of it. A v1 signer counts only when its signature over the .SF file verifies (a block may carry any
certificate it likes); v2/v3 signatures and the .SF's digests of the entries are not verified: this names the
signer, the installer checks the whole build.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

__all__ = ["Certificate", "SigningInfo", "V1Signers", "certificate_info", "read_signing_block", "v1_signers"]

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
    schemes: tuple[str, ...] = ()  # the signature schemes that name this certificate as the signer


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


@dataclass(frozen=True, slots=True)
class V1Signers:
    """What one META-INF signature block says: the certificates whose signature over the .SF file verifies,
    and why any other signer it names was not counted."""

    certificates: tuple[bytes, ...]
    problems: tuple[str, ...]


def v1_signers(block: bytes, signature_file: bytes | None) -> V1Signers:
    """The signers of a META-INF signature block (PKCS#7 SignedData) over its .SF file.

    A block may carry certificates that sign nothing: the signer is the one a SignerInfo names by issuer and
    serial number, and it counts only when its signature over the .SF file (or the signed attributes binding
    that file's digest) verifies with that certificate's key, as Android checks. Taking every certificate, or
    the first, or one whose signature fails, lets a build claim any publisher it likes (F-Droid issue 1128
    ships such blocks). The .SF file's digests of the entries are not checked: this names the signer, the
    installer checks the whole build.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        with warnings.catch_warnings():
            # cryptography warns, then falls back to BER, on blocks jarsigner wrote with unsorted SETs.
            warnings.simplefilter("ignore")
            certs = pkcs7.load_der_pkcs7_certificates(block)
    except (ValueError, TypeError):
        return V1Signers((), ("the signature block is not PKCS#7 SignedData",))
    try:
        infos = _signer_infos(block)
    except (ValueError, IndexError):
        return V1Signers((), ("the signature block names no readable signer",))
    verified: list[bytes] = []
    problems: list[str] = []
    for info in infos:
        cert = next((c for c in certs[:_MAX_CERTS] if _names(c, info)), None)
        if cert is None:
            problems.append("a signer it names has no certificate in the block")
            continue
        who = cert.subject.rfc4514_string()
        if signature_file is None:
            problems.append(f"signer {who}: no .SF file beside the block, so Android ignores it")
            continue
        verdict = _verify(block, info, cert, signature_file)
        if verdict is None:
            verified.append(cert.public_bytes(Encoding.DER))
        else:
            problems.append(f"signer {who}: {verdict}")
    return V1Signers(tuple(verified), tuple(problems))


@dataclass(frozen=True, slots=True)
class _SignerInfo:
    issuer: bytes  # the issuer Name, DER
    serial: int
    digest_oid: str
    signed_attrs: bytes | None  # DER with the SET tag (what is signed), or None
    message_digest: bytes | None
    signature: bytes


def _names(cert: x509.Certificate, info: _SignerInfo) -> bool:
    try:
        return cert.serial_number == info.serial and cert.issuer.public_bytes() == info.issuer
    except ValueError:
        return False


_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "1.3.14.3.2.26": hashes.SHA1, "2.16.840.1.101.3.4.2.1": hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512, "2.16.840.1.101.3.4.2.4": hashes.SHA224, "1.2.840.113549.2.5": hashes.MD5,
}
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


def _verify(block: bytes, info: _SignerInfo, cert: x509.Certificate, signature_file: bytes) -> str | None:
    """None when the signature verifies, else why not."""
    algorithm = _DIGESTS.get(info.digest_oid)
    if algorithm is None:
        return f"digest algorithm {info.digest_oid} is not one Android accepts"
    if info.signed_attrs is not None:
        digest = hashes.Hash(algorithm())
        digest.update(signature_file)
        if info.message_digest != digest.finalize():
            return "the signature covers another .SF file (copied from another build)"
        signed = info.signed_attrs
    else:
        signed = signature_file
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(info.signature, signed, padding.PKCS1v15(), algorithm())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(info.signature, signed, ec.ECDSA(algorithm()))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(info.signature, signed, algorithm())
        else:
            return "its key type is not one Android accepts for v1"
    except InvalidSignature:
        return "the signature does not verify with this certificate's key, so Android refuses the build"
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        return f"the signature cannot be checked ({str(error)[:80] or type(error).__name__})"
    return None


def _tlv(data: bytes, position: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER item at `position`; indefinite lengths refused."""
    if position + 2 > len(data):
        raise ValueError("DER item beyond the data")
    tag = data[position]
    length = data[position + 1]
    position += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or position + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[position:position + count], "big")
        position += count
    if position + length > len(data):
        raise ValueError("DER item overruns its container")
    return tag, position, position + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, start of the item, start of its value, end) of each DER item between start and end."""
    items = []
    while start < end:
        tag, value_start, value_end = _tlv(data, start)
        items.append((tag, start, value_start, value_end))
        start = value_end
    return items


def _signer_infos(block: bytes) -> list[_SignerInfo]:
    """The SignerInfos of a PKCS#7 SignedData ContentInfo (RFC 2315 / 5652), every length checked."""
    _, start, end = _tlv(block, 0)  # ContentInfo SEQUENCE
    _, _, start, end = _children(block, start, end)[1]  # content [0] EXPLICIT
    _, start, end = _tlv(block, start)  # SignedData SEQUENCE
    tag, _, start, end = _children(block, start, end)[-1]  # signerInfos, always the last SET
    if tag != 0x31:
        raise ValueError("no signerInfos")
    infos: list[_SignerInfo] = []
    for _, _, info_start, info_end in _children(block, start, end)[:_MAX_CERTS]:
        fields = _children(block, info_start, info_end)
        tag, _, sid_start, sid_end = fields[1]
        if tag != 0x30:
            continue  # a subjectKeyIdentifier signer id, which Android's v1 verifier does not accept either
        (_, name_item, _, name_end), (int_tag, _, int_start, int_end) = _children(block, sid_start, sid_end)[:2]
        if int_tag != 0x02:
            continue
        _, _, alg_start, alg_end = fields[2]
        digest_oid = _oid(block, *_children(block, alg_start, alg_end)[0][2:])
        rest = fields[3:]
        signed_attrs: bytes | None = None
        message_digest: bytes | None = None
        if rest and rest[0][0] == 0xA0:  # [0] IMPLICIT signedAttrs: signed as a SET (tag 0x31)
            _, item, attrs_start, attrs_end = rest[0]
            signed_attrs = b"\x31" + block[item + 1:attrs_end]
            for _, _, attr_start, attr_end in _children(block, attrs_start, attrs_end):
                attr = _children(block, attr_start, attr_end)
                if _oid(block, *attr[0][2:]) == _MESSAGE_DIGEST:
                    _, _, values_start, values_end = attr[1]
                    _, _, value_start, value_end = _children(block, values_start, values_end)[0]
                    message_digest = block[value_start:value_end]
            rest = rest[1:]
        _, _, sig_start, sig_end = rest[1]  # after signatureAlgorithm
        infos.append(_SignerInfo(block[name_item:name_end],
                                 int.from_bytes(block[int_start:int_end], "big", signed=True), digest_oid,
                                 signed_attrs, message_digest, block[sig_start:sig_end]))
    return infos


def _oid(data: bytes, start: int, end: int) -> str:
    raw = data[start:end]
    if not raw:
        raise ValueError("empty OID")
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


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
