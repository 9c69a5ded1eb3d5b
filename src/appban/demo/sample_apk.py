"""A small, valid APK built in memory for the demo's stored assessment: a binary XML (AXML) manifest, a minimal
DEX defining a few classes, a v1 (JAR) signature by a throw-away self-signed certificate, and the zip around
them. Pure: values in, bytes out.

It is a stand-in for TikTok's real build (package `com.zhiliaoapp.musically`): the permissions and the SDK class
names are ones TikTok's Android app is publicly reported to carry, the certificate is the demo's own (it says
so in its subject), and there is no code. The AXML layout follows AOSP's ResourceTypes.h (string pool, then
namespace and element chunks; attribute names as plain strings, which androguard's parser accepts); the DEX
has the header, string_ids, type_ids, class_defs and map_list with its SHA-1 signature and Adler-32 checksum.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
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

__all__ = ["TIKTOK_PACKAGE", "TIKTOK_PERMISSIONS", "TIKTOK_SDK_CLASSES", "Element", "build_apk", "tiktok_apk"]

ANDROID_NS = "http://schemas.android.com/apk/res/android"
_NO_INDEX = 0xFFFFFFFF
_TYPE_STRING, _TYPE_INT_DEC, _TYPE_INT_BOOLEAN = 0x03, 0x10, 0x12

TIKTOK_PACKAGE = "com.zhiliaoapp.musically"
TIKTOK_PERMISSIONS = (
    "android.permission.INTERNET",
    "android.permission.ACCESS_NETWORK_STATE",
    "android.permission.CAMERA",
    "android.permission.RECORD_AUDIO",
    "android.permission.READ_CONTACTS",
    "android.permission.ACCESS_FINE_LOCATION",
    "android.permission.ACCESS_COARSE_LOCATION",
    "android.permission.READ_MEDIA_IMAGES",
    "android.permission.READ_MEDIA_VIDEO",
    "android.permission.POST_NOTIFICATIONS",
)
# Class names of SDKs in the shipped ETIP list (risk/data/exodus_trackers.json): AppsFlyer (com.appsflyer.),
# Google Firebase Analytics (com.google.firebase.analytics.) and ByteDance's Pangle (com.bytedance).
TIKTOK_SDK_CLASSES = (
    "com.appsflyer.AppsFlyerLib",
    "com.google.firebase.analytics.FirebaseAnalytics",
    "com.bytedance.sdk.openadsdk.TTAdSdk",
)


@dataclass(frozen=True, slots=True)
class Element:
    """An XML element of the manifest; attributes named `android:x` are in the android namespace."""

    tag: str
    attrs: Mapping[str, str | int | bool] = field(default_factory=dict)
    children: Sequence[Element] = ()


def tiktok_apk() -> bytes:
    """The demo's stand-in for a TikTok build (see the module's docstring)."""
    activity = Element("activity", {"android:name": "com.ss.android.ugc.aweme.splash.SplashActivity",
                                    "android:exported": True}, (
        Element("intent-filter", {}, (
            Element("action", {"android:name": "android.intent.action.MAIN"}),
            Element("category", {"android:name": "android.intent.category.LAUNCHER"}))),))
    manifest = Element("manifest", {"package": TIKTOK_PACKAGE, "android:versionCode": 2023707030,
                                    "android:versionName": "37.7.3"}, (
        Element("uses-sdk", {"android:minSdkVersion": 23, "android:targetSdkVersion": 34}),
        *(Element("uses-permission", {"android:name": name}) for name in TIKTOK_PERMISSIONS),
        Element("application", {"android:label": "TikTok", "android:allowBackup": False}, (activity,)),
    ))
    classes = ("com.ss.android.ugc.aweme.splash.SplashActivity", "com.ss.android.ugc.aweme.app.AwemeApplication",
               *TIKTOK_SDK_CLASSES)
    return build_apk(manifest, classes, signer_name="appban demo sample build (not TikTok's signer)")


def build_apk(manifest: Element, classes: Sequence[str], *, signer_name: str | None = None) -> bytes:
    """A zip holding the manifest as AXML and a DEX defining `classes`, v1-signed when `signer_name` is given."""
    entries: dict[str, bytes] = {"AndroidManifest.xml": axml(manifest), "classes.dex": dex(classes)}
    if signer_name is not None:
        signature_file = b"Signature-Version: 1.0\r\nCreated-By: appban demo\r\n\r\n"
        entries["META-INF/CERT.SF"] = signature_file
        entries["META-INF/CERT.EC"] = _v1_signature(signature_file, signer_name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2023, 2, 23, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def axml(root: Element) -> bytes:
    """Android's binary XML for `root`."""
    strings: list[str] = []
    positions: dict[str, int] = {}

    def index(text: str) -> int:
        if text not in positions:
            positions[text] = len(strings)
            strings.append(text)
        return positions[text]

    prefix, uri = index("android"), index(ANDROID_NS)
    chunks = [struct.pack("<HHIIIII", 0x0100, 0x10, 24, 1, _NO_INDEX, prefix, uri)]

    def emit(element: Element) -> None:
        attributes = b""
        for name, value in element.attrs.items():
            namespaced = name.startswith("android:")
            local = index(name.removeprefix("android:"))
            if isinstance(value, bool):
                raw, kind, data = _NO_INDEX, _TYPE_INT_BOOLEAN, 0xFFFFFFFF if value else 0
            elif isinstance(value, int):
                raw, kind, data = _NO_INDEX, _TYPE_INT_DEC, value
            else:
                raw = index(value)
                kind, data = _TYPE_STRING, raw
            attributes += struct.pack("<IIIHBBI", uri if namespaced else _NO_INDEX, local, raw, 8, 0, kind, data)
        body = struct.pack("<IIIIHHHHHH", 1, _NO_INDEX, _NO_INDEX, index(element.tag), 0x14, 0x14,
                           len(element.attrs), 0, 0, 0)
        chunks.append(struct.pack("<HHI", 0x0102, 0x10, 8 + len(body) + len(attributes)) + body + attributes)
        for child in element.children:
            emit(child)
        chunks.append(struct.pack("<HHIIIII", 0x0103, 0x10, 24, 1, _NO_INDEX, _NO_INDEX, index(element.tag)))

    emit(root)
    chunks.append(struct.pack("<HHIIIII", 0x0101, 0x10, 24, 1, _NO_INDEX, prefix, uri))
    body = _string_pool(strings) + b"".join(chunks)
    return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


def _string_pool(strings: Sequence[str]) -> bytes:
    data = b""
    offsets = []
    for text in strings:
        offsets.append(len(data))
        encoded = text.encode("utf-16-le")
        data += struct.pack("<H", len(encoded) // 2) + encoded + b"\x00\x00"
    data += b"\x00" * (-len(data) % 4)
    header_size = 0x1C
    start = header_size + 4 * len(strings)
    return (struct.pack("<HHIIIIII", 0x0001, header_size, start + len(data), len(strings), 0, 0, start, 0)
            + b"".join(struct.pack("<I", offset) for offset in offsets) + data)


def dex(classes: Sequence[str]) -> bytes:
    """A DEX file that defines `classes` (dotted names) and nothing else."""
    descriptors = sorted({"L" + name.replace(".", "/") + ";" for name in classes})
    count = len(descriptors)
    string_ids_off = 0x70
    type_ids_off = string_ids_off + 4 * count
    class_defs_off = type_ids_off + 4 * count
    data_off = class_defs_off + 32 * count
    data = b""
    string_offsets = []
    for text in descriptors:
        string_offsets.append(data_off + len(data))
        data += _uleb(len(text)) + text.encode("utf-8") + b"\x00"
    data += b"\x00" * (-len(data) % 4)
    map_off = data_off + len(data)
    sections = [(0x0000, 1, 0), (0x0001, count, string_ids_off), (0x0002, count, type_ids_off),
                (0x0006, count, class_defs_off), (0x2002, count, data_off), (0x1000, 1, map_off)]
    data += struct.pack("<I", len(sections)) + b"".join(struct.pack("<HHII", kind, 0, size, offset)
                                                          for kind, size, offset in sections)
    type_ids = b"".join(struct.pack("<I", i) for i in range(count))  # type i is string i (both sorted)
    class_defs = b"".join(struct.pack("<IIIIIIII", i, 1, _NO_INDEX, 0, _NO_INDEX, 0, 0, 0) for i in range(count))
    total = data_off + len(data)
    header = struct.pack("<8sI20s20I", b"dex\n035\x00", 0, b"\x00" * 20, total, 0x70, 0x12345678, 0, 0, map_off,
                         count, string_ids_off, count, type_ids_off, 0, 0, 0, 0, 0, 0, count, class_defs_off,
                         len(data), data_off)
    body = header + b"".join(struct.pack("<I", o) for o in string_offsets) + type_ids + class_defs + data
    signed = body[:12] + hashlib.sha1(body[32:]).digest() + body[32:]  # noqa: S324 (the DEX format's checksum)
    return signed[:8] + struct.pack("<I", zlib.adler32(signed[12:])) + signed[12:]


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _v1_signature(signature_file: bytes, common_name: str) -> bytes:
    """A detached PKCS#7 signature of the .SF file by a fresh self-signed certificate, as jarsigner writes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "appban"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start)
                   .not_valid_after(start + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    return (pkcs7.PKCS7SignatureBuilder().set_data(signature_file).add_signer(certificate, key, hashes.SHA256())
            .sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature]))
