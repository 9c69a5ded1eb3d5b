"""Regressions found by assessing real APKs (the ~45 of the fdroidserver source distribution, bench/risk_bench.py).

Each test rebuilds in bytes the shape of the real file that exposed the bug, so CI needs no network. The last
test compares with androguard on the real APKs themselves when a copy is on this machine (the bench script
leaves one in $APPBAN_REAL_APKS, default /tmp/appban-real-apks), and skips otherwise.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import pytest

from appban.catalog import default_catalog
from appban.risk import Assessment, assess
from appban.risk.signing import certificate_info, v1_signers

from .builders import SIGNATURE_FILE, El, apk, axml, dex, manifest, signer, v1_block, with_v2_block, zip_bytes

P = "android.permission."
REAL_APKS = Path(os.environ.get("APPBAN_REAL_APKS", str(Path(tempfile.gettempdir()) / "appban-real-apks")))


def run(data: bytes, name: str = "app.apk") -> Assessment:
    return assess(io.BytesIO(data), name, default_catalog())


def factor(result: Assessment, factor_id: str) -> tuple[int, tuple[str, ...]]:
    found = next(f for f in result.factors if f.id == factor_id)
    return found.contribution, found.evidence


def signed_entries(block: bytes, *, signature_file: bytes | None = SIGNATURE_FILE) -> dict[str, bytes]:
    entries = {"AndroidManifest.xml": _manifest_bytes(), "classes.dex": dex(["org.example.app.Main"]),
               "META-INF/CERT.RSA": block}
    if signature_file is not None:
        entries["META-INF/CERT.SF"] = signature_file
    return entries


def _manifest_bytes() -> bytes:
    return axml(manifest())


# --- signing ----------------------------------------------------------------------------------------------------


def test_v1_block_carrying_a_certificate_that_signs_nothing_reports_only_the_signer() -> None:
    # issue-1128-poc3a.apk: CERT.RSA holds "Ciaran Gultnieks" (F-Droid's old key) first and "oops" second;
    # only "oops" signs. Listing both, or the first, lets the build pass for F-Droid.
    real, decoy = signer("oops", "US"), signer("Ciaran Gultnieks", "UK")
    block = v1_block(real, extra_certs=[decoy])
    b = run(zip_bytes(signed_entries(block))).android
    assert b is not None
    assert [c.subject for c in b.certificates] == ["CN=oops,O=Example,C=US"]
    assert b.certificates[0].schemes == ("v1",)


def test_v1_block_without_its_signature_file_is_ignored_with_a_note() -> None:
    # issue-1128-poc1.apk: META-INF/CIARANG.RSA alone (no .SF), v2/v3 by "oops": Android ignores the block.
    real, decoy = signer("oops", "US"), signer("Ciaran Gultnieks", "UK")
    data = with_v2_block(zip_bytes(signed_entries(v1_block(decoy), signature_file=None)), real)
    b = run(data).android
    assert b is not None
    assert b.signature_schemes == ("v2",)
    assert [c.subject for c in b.certificates] == ["CN=oops,O=Example,C=US"]
    assert any("no .SF file" in n and "Ciaran" in n for n in b.signing_notes)


def test_v1_signature_that_does_not_verify_names_no_signer() -> None:
    # urzip-badcert.apk: the block's certificate is not the key that made the signature.
    real = signer("Android Debug", "US")
    block = v1_block(real)
    # Same name and serial, another key; ECDSA signatures vary in length, so draw until the DER fits in place.
    impostor = next(s for s in (signer("Android Debug", "US") for _ in range(200)) if len(s.der) == len(real.der))
    forged = block.replace(real.der, impostor.der)
    assert forged != block
    result = run(zip_bytes(signed_entries(forged)))
    b = result.android
    assert b is not None and b.certificates == () and b.signature_schemes == ()
    assert any("does not verify" in n for n in b.signing_notes)
    _, evidence = factor(result, "build-hygiene")
    assert any("no valid signing certificate" in e for e in evidence)


def test_v1_signature_of_another_signature_file_is_refused() -> None:
    who = signer()
    block = v1_block(who, b"Signature-Version: 1.0\r\nfrom another build\r\n")
    b = run(zip_bytes(signed_entries(block))).android
    assert b is not None and b.certificates == ()
    assert any("another .SF" in n for n in b.signing_notes)


def test_v1_and_v2_signers_that_differ_are_tampering() -> None:
    # issue-1128-min-sdk-30-poc.apk: v1 by "monolith, F-Droid", v2/v3 by "oops".
    old, new = signer("monolith", "DE"), signer("oops", "US")
    result = run(with_v2_block(zip_bytes(signed_entries(v1_block(old))), new))
    b = result.android
    assert b is not None
    assert {(c.subject.split(",")[0], c.schemes) for c in b.certificates} == {("CN=monolith", ("v1",)),
                                                                               ("CN=oops", ("v2",))}
    points, evidence = factor(result, "tampering")
    assert points == 25 and "is not the v2 signer" in evidence[0]


def test_same_signer_in_every_scheme_is_not_tampering() -> None:
    who = signer()
    result = run(apk(manifest(), who=who))
    b = result.android
    assert b is not None and b.signing_notes == () and b.certificates[0].schemes == ("v1", "v2")
    assert factor(result, "tampering")[0] == 0


def test_block_whose_certificate_set_is_unsorted_reads_without_a_warning() -> None:
    # issue-1128-poc3a.apk: jarsigner-era blocks list certificates out of DER SET order; cryptography then warns
    # on stderr before it falls back to BER, which the CLI's one-line output must not show.
    real, decoy = signer("oops", "US"), signer("Ciaran Gultnieks", "UK")
    block = v1_block(real, extra_certs=[decoy])
    first, second = next((a, b) for a, b in ((real.der, decoy.der), (decoy.der, real.der)) if a + b in block)
    swapped = block.replace(first + second, second + first)  # DER wants them sorted: now they are not
    assert swapped != block
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signers = v1_signers(swapped, SIGNATURE_FILE)
    assert [certificate_info(d).subject for d in signers.certificates  # type: ignore[union-attr]
            ] == ["CN=oops,O=Example,C=US"]


# --- Janus --------------------------------------------------------------------------------------------------------


def test_dex_prepended_to_the_archive_is_found_scanned_and_decisive() -> None:
    # janus.apk: a DEX file before the first zip entry; Android 5.0-8.0 runs it when only v1 signs.
    hidden = dex(["com.adjust.sdk.Adjust", "evil.Payload"], ["https://collect.example.org/x"])
    body = apk(manifest(), who=signer(), v2=False)
    result = run(hidden + body)
    b = result.android
    assert b is not None
    assert b.prepended_bytes == len(hidden) and b.prepended_dex
    assert "collect.example.org" in b.hosts
    assert [t.name for t in b.trackers] == ["Adjust"]
    points, evidence = factor(result, "tampering")
    assert points == 45 and "Janus" in evidence[0]
    assert result.rating.value in ("high", "critical")


def test_plain_apk_has_nothing_before_its_first_entry() -> None:
    b = run(apk(manifest(), who=signer())).android
    assert b is not None and b.prepended_bytes == 0 and not b.prepended_dex


# --- permissions ----------------------------------------------------------------------------------------------


def test_permission_asked_twice_keeps_the_widest_request() -> None:
    # duplicate.permisssions_9999999.apk asks for some permissions twice; the later one without maxSdkVersion
    # is what the platform grants on every version.
    root = El("manifest", {"package": "org.example.app"}, [
        El("uses-sdk", {"android:minSdkVersion": 24, "android:targetSdkVersion": 34}),
        El("uses-permission", {"android:name": P + "CAMERA", "android:maxSdkVersion": 18}),
        El("uses-permission", {"android:name": P + "CAMERA"}),
        El("uses-permission", {"android:name": P + "INTERNET"}),
        El("uses-permission", {"android:name": P + "INTERNET"}),
        El("application", {}),
    ])
    result = run(apk(root))
    b = result.android
    assert b is not None
    assert [(p.name, p.max_sdk) for p in b.permissions] == [(P + "CAMERA", None), (P + "INTERNET", None)]
    points, _ = factor(result, "device-access")
    assert points == 5


def test_permission_limited_to_android_versions_long_gone_is_listed_but_not_scored() -> None:
    # duplicate.permisssions_9999999.apk: WRITE_EXTERNAL_STORAGE maxSdkVersion="18", the "not needed on any
    # device still in use" idiom; scoring it as access to files misleads the reviewer.
    root = El("manifest", {"package": "org.example.app"}, [
        El("uses-sdk", {"android:minSdkVersion": 18, "android:targetSdkVersion": 27}),
        El("uses-permission", {"android:name": P + "WRITE_EXTERNAL_STORAGE", "android:maxSdkVersion": 18}),
        El("uses-permission", {"android:name": P + "READ_CONTACTS", "android:maxSdkVersion": 30}),
        El("application", {}),
    ])
    result = run(apk(root))
    b = result.android
    assert b is not None and {p.name for p in b.permissions} == {P + "WRITE_EXTERNAL_STORAGE", P + "READ_CONTACTS"}
    points, evidence = factor(result, "device-access")
    assert points == 5 and not any("files" in e for e in evidence)


def test_permission_named_in_a_namespace_androguard_ignores_is_listed_and_flagged(tmp_path: Path) -> None:
    # org.sajeg.fallingblocks_3.apk: <uses-permission ns0:name=...> with xmlns:ns0="android" (the prefix, not
    # the URI). Android resolves android:name by its resource ID (0x01010003) and grants VIBRATE; androguard's
    # get_permissions() returns nothing, and so did appban.
    root = El("manifest", {"package": "org.example.app"}, [
        El("uses-sdk", {"android:minSdkVersion": 19, "android:targetSdkVersion": 32}),
        El("uses-permission", {"android:name": P + "VIBRATE"}),
        El("application", {}),
    ])
    data = zip_bytes({"AndroidManifest.xml": axml(root, attribute_namespace="android",
                                                  resource_ids={"name": 0x01010003}),
                      "classes.dex": dex(["org.example.app.Main"])})
    b = run(data).android
    assert b is not None
    assert [p.name for p in b.permissions] == [P + "VIBRATE"]
    assert len(b.manifest_notes) == 1 and "another namespace" in b.manifest_notes[0]
    path = tmp_path / "odd-namespace.apk"
    path.write_bytes(data)
    _compare_with_androguard(path)


def test_attribute_in_a_foreign_namespace_without_a_framework_id_is_not_androids() -> None:
    root = El("manifest", {"package": "org.example.app"}, [
        El("uses-permission", {"android:name": P + "CAMERA"}), El("application", {})])
    data = zip_bytes({"AndroidManifest.xml": axml(root, attribute_namespace="http://example.org/other"),
                      "classes.dex": dex(["org.example.app.Main"])})
    b = run(data).android
    assert b is not None and b.permissions == () and b.manifest_notes == ()


def test_permissions_equal_androguards_reading_of_a_built_manifest(tmp_path: Path) -> None:
    root = El("manifest", {"package": "org.example.app"}, [
        El("uses-sdk", {"android:minSdkVersion": 18, "android:targetSdkVersion": 27}),
        El("uses-permission", {"android:name": P + "INTERNET"}),
        El("uses-permission", {"android:name": P + "INTERNET"}),
        El("uses-permission-sdk-23", {"android:name": P + "REQUEST_INSTALL_PACKAGES"}),
        El("uses-permission", {"android:name": "org.example.app.C2D"}),
        El("permission", {"android:name": "org.example.app.C2D", "android:protectionLevel": 2}),
        El("application", {}),
    ])
    path = tmp_path / "built.apk"
    path.write_bytes(apk(root))
    _compare_with_androguard(path)


def _compare_with_androguard(path: Path) -> None:
    from androguard.core.apk import APK  # type: ignore[import-untyped]

    reference = APK(str(path))
    sdk23 = {str(reference.get_value_from_tag(t, "name")) for t in reference.find_tags("uses-permission-sdk-23")}
    with path.open("rb") as stream:
        b = assess(stream, path.name, default_catalog()).android
    assert b is not None
    ours = {p.name: p.element for p in b.permissions}
    plain = set(reference.get_permissions())
    # Names androguard misses because their attribute is not in the android namespace although Android reads
    # it (by resource ID): appban lists them and says why in manifest_notes; nothing else may differ.
    hidden = {n.split('"')[1] for n in b.manifest_notes if "another namespace" in n}
    # androguard's get_permissions() reads <uses-permission> only; <uses-permission-sdk-23> is read apart.
    assert set(ours) - hidden == plain | sdk23, path.name
    assert {n for n, e in ours.items() if e == "uses-permission"} - hidden == plain, path.name
    assert hidden.isdisjoint(plain | sdk23), path.name


@pytest.mark.parametrize("path", sorted(REAL_APKS.glob("*.apk")) if REAL_APKS.is_dir() else [],
                         ids=lambda p: p.name[:40])
def test_permissions_equal_androguards_on_real_apks(path: Path) -> None:
    _compare_with_androguard(path)


def test_real_apks_present_or_skipped() -> None:
    if not REAL_APKS.is_dir() or not any(REAL_APKS.glob("*.apk")):
        pytest.skip(f"no real APKs in {REAL_APKS}: run bench/risk_bench.py --download-only to fetch them")
