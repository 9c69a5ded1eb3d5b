"""Hostile archives: each refused with one line naming the file (and the entry), memory and time bounded."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appban.catalog import default_catalog
from appban.errors import InvalidInput
from appban.risk import ArchiveLimits, assess
from appban.risk.axml import parse_axml

from .builders import apk, axml, ipa, manifest, zip_bytes

CATALOG = default_catalog()


def refuse(data: bytes, name: str = "bad.apk", limits: ArchiveLimits | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        assess(io.BytesIO(data), name, CATALOG, limits=limits)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: ")
    return message


def test_not_a_zip() -> None:
    assert "not a zip archive" in refuse(b"MZ\x90\x00 this is not an app" * 10)


def test_truncated_archive() -> None:
    data = apk(manifest())
    assert "not a zip archive or truncated" in refuse(data[: len(data) // 2])


def test_truncated_entry_data() -> None:
    data = apk(manifest())
    (cd_offset,) = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)
    # Damage the bytes of the first entry, keep the directory: the entry cannot be read back.
    damaged = data[:40] + b"\x00" * (cd_offset - 40 - 200) + data[cd_offset - 200:]
    message = refuse(damaged)
    assert "entry '" in message


def test_zip_bomb_by_ratio() -> None:
    bomb = zip_bytes({"AndroidManifest.xml": axml(manifest()), "assets/zeros.bin": b"\x00" * (8 * 1024 * 1024)})
    message = refuse(bomb)
    assert "entry 'assets/zeros.bin' expands" in message and "zip bomb" in message


def test_zip_bomb_by_total_size() -> None:
    entries = {"AndroidManifest.xml": axml(manifest())}
    entries.update({f"assets/{i}.bin": bytes(range(256)) * 4096 for i in range(5)})  # 1 MiB each, incompressible-ish
    limits = ArchiveLimits(max_total=3 * 1024 * 1024)
    assert "MiB uncompressed in total" in refuse(zip_bytes(entries), limits=limits)


def test_entry_count_cap() -> None:
    entries = {f"res/{i}.xml": b"x" for i in range(50)}
    assert "holds 50 entries" in refuse(zip_bytes(entries), limits=ArchiveLimits(max_entries=10))


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "path traversal"),
    ("assets/../../x", "path traversal"),
    ("/etc/passwd", "absolute path"),
    ("C:/Windows/x", "absolute path"),
])
def test_path_traversal_and_absolute_names(name: str, expected: str) -> None:
    data = zip_bytes({"AndroidManifest.xml": axml(manifest()), name: b"x"})
    message = refuse(data)
    assert f"entry '{name}'" in message and expected in message


def test_ipa_with_a_symlink_out_of_the_archive() -> None:
    data = zip_bytes({"Payload/Example.app/Info.plist": b"<plist/>"},
                     symlinks=[("Payload/Example.app/link", "/etc/passwd")])
    message = refuse(data, "bad.ipa")
    assert "entry 'Payload/Example.app/link' is a symbolic link" in message


def test_malformed_binary_manifest() -> None:
    good = axml(manifest())
    data = zip_bytes({"AndroidManifest.xml": good[:8] + b"\xff" * 40 + good[48:120]})
    assert "entry 'AndroidManifest.xml'" in refuse(data)


def test_plain_text_manifest() -> None:
    data = zip_bytes({"AndroidManifest.xml": b'<?xml version="1.0"?><manifest package="x"/>'})
    assert "entry 'AndroidManifest.xml'" in refuse(data)


def test_gigantic_manifest_is_refused_before_it_is_read() -> None:
    data = zip_bytes({"AndroidManifest.xml": b"\x03\x00\x08\x00" + b"\x00" * (5 * 1024 * 1024)})
    message = refuse(data, limits=ArchiveLimits(max_ratio=10_000))
    assert "entry 'AndroidManifest.xml' is" in message and "accepted" in message


def test_duplicate_entries() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("AndroidManifest.xml", axml(manifest()))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("AndroidManifest.xml", b"other")
    assert "appears twice" in refuse(out.getvalue())


def test_neither_apk_nor_ipa() -> None:
    assert "neither an APK" in refuse(zip_bytes({"readme.txt": b"hi"}), "x.zip")


def test_ipa_plist_with_entities() -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaa">]><plist><dict>'
            b"<key>CFBundleIdentifier</key><string>&a;</string></dict></plist>")
    data = zip_bytes({"Payload/Example.app/Info.plist": evil})
    assert "declares XML entities" in refuse(data, "bad.ipa")


def test_malformed_dex() -> None:
    data = apk(manifest(), extra={"classes2.dex": b"dex\n035\x00" + b"\xff" * 200})
    assert "entry 'classes2.dex'" in refuse(data)


SEED_APK = apk(manifest(permissions=["android.permission.CAMERA"]))
SEED_IPA = ipa({"CFBundleIdentifier": "org.example", "NSCameraUsageDescription": "scan"})
SEED_AXML = axml(manifest(permissions=["android.permission.CAMERA"]))


def _mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


_edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_edits, cut=st.none() | st.integers(0, 4000), seed=st.sampled_from([SEED_APK, SEED_IPA]))
def test_mutated_archives_raise_only_invalid_input(edits: list[tuple[int, int]], cut: int | None, seed: bytes) -> None:
    try:
        assess(io.BytesIO(_mutate(seed, edits, cut)), "fuzz.bin", CATALOG)
    except InvalidInput as error:
        assert "\n" not in str(error)


@settings(max_examples=300, deadline=None)
@given(edits=_edits, cut=st.none() | st.integers(0, 2000))
def test_mutated_manifests_raise_only_invalid_input(edits: list[tuple[int, int]], cut: int | None) -> None:
    try:
        parse_axml(_mutate(SEED_AXML, edits, cut), "fuzz.apk", "AndroidManifest.xml")
    except InvalidInput as error:
        assert str(error).startswith("fuzz.apk: entry 'AndroidManifest.xml'")
