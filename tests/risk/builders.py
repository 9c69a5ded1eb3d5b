"""Real small APKs and IPAs, built in the test: a binary XML (AXML) writer, a minimal DEX writer, a self-signed
certificate, v1 (PKCS#7) and v2 (APK Signing Block) signatures, and the zip around them.

The AXML layout follows frameworks/base/libs/androidfw/include/androidfw/ResourceTypes.h: a string pool, then
namespace and element chunks. Attribute names are plain strings (no resource map), which the platform's
parser and androguard's both accept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import plistlib
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import NameOID

ANDROID_NS = "http://schemas.android.com/apk/res/android"
NO_INDEX = 0xFFFFFFFF
TYPE_STRING, TYPE_INT_DEC, TYPE_INT_BOOLEAN = 0x03, 0x10, 0x12


@dataclass
class El:
    """An element: attributes named "android:x" are in the android namespace."""

    tag: str
    attrs: Mapping[str, str | int | bool] = field(default_factory=dict)
    children: Sequence[El] = ()


def axml(root: El, *, attribute_namespace: str = ANDROID_NS, resource_ids: Mapping[str, int] | None = None) -> bytes:
    """`attribute_namespace` is the namespace string "android:" attributes get (real aapt: the URI; some broken
    tools: the prefix "android"); `resource_ids` maps attribute names to framework resource IDs (a resource
    map chunk, as aapt writes one)."""
    strings: list[str] = []

    def index(text: str) -> int:
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    index("android")
    index(ANDROID_NS)
    for name in resource_ids or {}:
        index(name)  # first in the pool, so the resource map (indexed like the pool) can cover them
    chunks: list[bytes] = []
    uri = index(ANDROID_NS)
    ns = index(attribute_namespace)
    chunks.append(struct.pack("<HHIIIII", 0x0100, 0x10, 24, 1, NO_INDEX, index("android"), uri))

    def emit(element: El) -> None:
        attrs = b""
        for name, value in element.attrs.items():
            namespace = ns if name.startswith("android:") else NO_INDEX
            local = index(name.split(":", 1)[1] if name.startswith("android:") else name)
            if isinstance(value, bool):
                raw, kind, data = NO_INDEX, TYPE_INT_BOOLEAN, 0xFFFFFFFF if value else 0
            elif isinstance(value, int):
                raw, kind, data = NO_INDEX, TYPE_INT_DEC, value
            else:
                raw = index(value)
                kind, data = TYPE_STRING, raw
            attrs += struct.pack("<IIIHBBI", namespace, local, raw, 8, 0, kind, data)
        count = len(element.attrs)
        body = struct.pack("<IIIIHHHHHH", 1, NO_INDEX, NO_INDEX, index(element.tag), 0x14, 0x14, count, 0, 0, 0)
        chunks.append(struct.pack("<HHI", 0x0102, 0x10, 8 + len(body) + len(attrs)) + body + attrs)
        for child in element.children:
            emit(child)
        chunks.append(struct.pack("<HHIIIII", 0x0103, 0x10, 24, 1, NO_INDEX, NO_INDEX, index(element.tag)))

    emit(root)
    chunks.append(struct.pack("<HHIIIII", 0x0101, 0x10, 24, 1, NO_INDEX, index("android"), uri))
    pool = _string_pool(strings)
    if resource_ids:
        ids = [resource_ids.get(text, 0) for text in strings[:max(strings.index(n) for n in resource_ids) + 1]]
        pool += struct.pack("<HHI", 0x0180, 8, 8 + 4 * len(ids)) + b"".join(struct.pack("<I", i) for i in ids)
    body = pool + b"".join(chunks)
    return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


def _string_pool(strings: list[str]) -> bytes:
    data = b""
    offsets = []
    for text in strings:
        offsets.append(len(data))
        encoded = text.encode("utf-16-le")
        data += struct.pack("<H", len(encoded) // 2) + encoded + b"\x00\x00"
    data += b"\x00" * (-len(data) % 4)
    header_size = 0x1C
    strings_start = header_size + 4 * len(strings)
    size = strings_start + len(data)
    return (struct.pack("<HHIIIIII", 0x0001, header_size, size, len(strings), 0, 0, strings_start, 0)
            + b"".join(struct.pack("<I", o) for o in offsets) + data)


def dex(classes: Sequence[str], strings: Sequence[str] = ()) -> bytes:
    """A DEX file defining `classes` (dotted names) and holding `strings` in its string table, complete enough
    for dexdump and baksmali: map_list, SHA-1 signature and Adler-32 checksum (the bench feeds it to peers)."""
    descriptors = sorted({"L" + c.replace(".", "/") + ";" for c in classes} | set(strings))
    n = len(descriptors)
    class_desc = sorted("L" + c.replace(".", "/") + ";" for c in set(classes))
    string_ids_off = 0x70
    type_ids_off = string_ids_off + 4 * n
    class_defs_off = type_ids_off + 4 * len(class_desc)
    data_off = class_defs_off + 32 * len(class_desc)
    data = b""
    string_offsets = []
    for text in descriptors:
        string_offsets.append(data_off + len(data))
        encoded = text.encode("utf-8")
        data += _uleb(len(text)) + encoded + b"\x00"
    data += b"\x00" * (-len(data) % 4)
    map_off = data_off + len(data)
    sections = [(0x0000, 1, 0), (0x0001, n, string_ids_off), (0x0002, len(class_desc), type_ids_off),
                (0x0006, len(class_desc), class_defs_off), (0x2002, n, data_off), (0x1000, 1, map_off)]
    sections = [s for s in sections if s[1]]
    data += struct.pack("<I", len(sections)) + b"".join(struct.pack("<HHII", t, 0, size, off)
                                                          for t, size, off in sections)
    type_ids = b"".join(struct.pack("<I", descriptors.index(d)) for d in class_desc)
    class_defs = b"".join(struct.pack("<IIIIIIII", i, 1, NO_INDEX, 0, NO_INDEX, 0, 0, 0)
                          for i in range(len(class_desc)))
    total = data_off + len(data)
    # magic, checksum, signature, file_size, header_size, endian_tag, link_size, link_off, map_off, then the
    # (size, offset) of string_ids, type_ids, proto_ids, field_ids, method_ids, class_defs, data.
    header = struct.pack("<8sI20s20I", b"dex\n035\x00", 0, b"\x00" * 20, total, 0x70, 0x12345678, 0, 0, map_off,
                         n, string_ids_off, len(class_desc), type_ids_off, 0, 0, 0, 0, 0, 0,
                         len(class_desc), class_defs_off, len(data), data_off)
    assert len(header) == 0x70
    body = header + b"".join(struct.pack("<I", o) for o in string_offsets) + type_ids + class_defs + data
    signed = body[:12] + hashlib.sha1(body[32:]).digest() + body[32:]  # SHA-1: the DEX format says so
    return signed[:8] + struct.pack("<I", zlib.adler32(signed[12:])) + signed[12:]


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass
class Signer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)


def signer(common_name: str = "Example Corp", country: str = "DK") -> Signer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x1234).not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return Signer(key, cert)


SIGNATURE_FILE = b"Signature-Version: 1.0\r\nCreated-By: appban tests\r\n\r\n"


def v1_block(who: Signer, signature_file: bytes = SIGNATURE_FILE, *, extra_certs: Sequence[Signer] = ()) -> bytes:
    """A detached PKCS#7 signature of the .SF file, as jarsigner writes it; `extra_certs` are carried in the
    block without signing anything (the F-Droid issue 1128 trick)."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(signature_file).add_signer(who.cert, who.key, hashes.SHA256())
    for other in extra_certs:
        builder = builder.add_certificate(other.cert)
    return builder.sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])


def _prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


def with_v2_block(apk: bytes, who: Signer, scheme_id: int = 0x7109871A) -> bytes:
    """Insert an APK Signing Block (with `who`'s certificate; signatures not computed) before the central
    directory, as apksigner places it."""
    signed_data = _prefixed(b"", _prefixed(who.der), b"")
    signer_bytes = _prefixed(signed_data, b"", b"")
    value = _prefixed(_prefixed(signer_bytes))
    pair = struct.pack("<QI", 4 + len(value), scheme_id) + value
    size = len(pair) + 8 + 16
    block = struct.pack("<Q", size) + pair + struct.pack("<Q", size) + b"APK Sig Block 42"
    eocd = apk.rfind(b"PK\x05\x06")
    (cd_offset,) = struct.unpack_from("<I", apk, eocd + 16)
    new_eocd = apk[eocd:eocd + 16] + struct.pack("<I", cd_offset + len(block)) + apk[eocd + 20:]
    return apk[:cd_offset] + block + apk[cd_offset:eocd] + new_eocd


def zip_bytes(entries: Mapping[str, bytes], *, symlinks: Sequence[tuple[str, str]] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return out.getvalue()


def manifest(package: str = "org.example.app", *, permissions: Sequence[str] = (),
             sdk23_permissions: Sequence[str] = (), target: int = 34, min_sdk: int = 24,
             application: Mapping[str, str | int | bool] | None = None, components: Sequence[El] = (),
             extra: Sequence[El] = ()) -> El:
    children: list[El] = [El("uses-sdk", {"android:minSdkVersion": min_sdk, "android:targetSdkVersion": target})]
    children += [El("uses-permission", {"android:name": p}) for p in permissions]
    children += [El("uses-permission-sdk-23", {"android:name": p}) for p in sdk23_permissions]
    children += list(extra)
    children.append(El("application", dict(application or {"android:label": "Example"}), components))
    return El("manifest", {"package": package, "android:versionCode": 42, "android:versionName": "4.2.0"}, children)


def apk(root: El, *, classes: Sequence[str] = ("org.example.app.MainActivity",), strings: Sequence[str] = (),
        who: Signer | None = None, v2: bool = True, extra: Mapping[str, bytes] | None = None) -> bytes:
    entries = {"AndroidManifest.xml": axml(root), "classes.dex": dex(classes, strings),
               "lib/arm64-v8a/libnative.so": b"\x7fELF" + b"\x00" * 60, **(extra or {})}
    if who is not None:
        entries["META-INF/CERT.SF"] = SIGNATURE_FILE
        entries["META-INF/CERT.RSA"] = v1_block(who)
    data = zip_bytes(entries)
    return with_v2_block(data, who) if who is not None and v2 else data


def ipa(info: Mapping[str, object], *, profile: Mapping[str, object] | None = None,
        frameworks: Sequence[str] = (), binary: bool = False, app: str = "Example.app") -> bytes:
    fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
    entries = {f"Payload/{app}/Info.plist": plistlib.dumps(dict(info), fmt=fmt),
               f"Payload/{app}/Example": b"\xcf\xfa\xed\xfe" + b"\x00" * 28}
    if profile is not None:
        # A CMS wrapper stand-in: binary bytes around the XML plist, as in a real .mobileprovision.
        wrapped = b"0\x82\x10\x00\x06\t*\x86H" + plistlib.dumps(dict(profile)) + b"\xa0\x82\x05\x00signature"
        entries[f"Payload/{app}/embedded.mobileprovision"] = wrapped
    for framework in frameworks:
        entries[f"Payload/{app}/Frameworks/{framework}.framework/{framework}"] = b"\xcf\xfa\xed\xfe"
    return zip_bytes(entries)
