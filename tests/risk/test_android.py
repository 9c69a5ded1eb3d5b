"""Android builds the tests assemble: the report must say exactly what the manifest, code and signature say."""

from __future__ import annotations

import io

import pytest

from appban.catalog import default_catalog
from appban.risk import Assessment, PermissionGroup, SpecialAccessKind, assess

from .builders import El, apk, axml, manifest, signer, zip_bytes

P = "android.permission."
PERMISSIONS = [P + "CAMERA", P + "RECORD_AUDIO", P + "ACCESS_FINE_LOCATION", P + "INTERNET", P + "READ_CONTACTS",
               P + "SYSTEM_ALERT_WINDOW", P + "QUERY_ALL_PACKAGES", "com.example.app.C2D", P + "BLUETOOTH_SCAN"]


def run(data: bytes, name: str = "app.apk") -> Assessment:
    return assess(io.BytesIO(data), name, default_catalog())


def components() -> list[El]:
    main = El("activity", {"android:name": ".MainActivity", "android:exported": True},
              [El("intent-filter", {}, [El("action", {"android:name": "android.intent.action.MAIN"})])])
    hidden = El("activity", {"android:name": ".Settings", "android:exported": False})
    legacy = El("receiver", {"android:name": "org.example.app.Boot"},
                [El("intent-filter", {}, [El("action", {"android:name": "android.intent.action.BOOT_COMPLETED"})])])
    a11y = El("service", {"android:name": ".Reader", "android:permission": P + "BIND_ACCESSIBILITY_SERVICE",
                          "android:exported": True},
              [El("intent-filter", {}, [El("action",
                                           {"android:name": "android.accessibilityservice.AccessibilityService"})])])
    admin = El("receiver", {"android:name": ".Admin", "android:permission": P + "BIND_DEVICE_ADMIN",
                            "android:exported": True})
    listener = El("service", {"android:name": ".Notes", "android:exported": False},
                  [El("intent-filter", {}, [El("action", {
                      "android:name": "android.service.notification.NotificationListenerService"})])])
    vpn = El("service", {"android:name": ".Tunnel", "android:permission": P + "BIND_VPN_SERVICE"})
    return [main, hidden, legacy, a11y, admin, listener, vpn]


@pytest.fixture(scope="module")
def report() -> Assessment:
    who = signer("Example Corp", "DK")
    root = manifest(permissions=PERMISSIONS[:-1], sdk23_permissions=PERMISSIONS[-1:], target=30,
                    components=components(),
                    application={"android:label": "Example", "android:debuggable": True,
                                 "android:usesCleartextTraffic": True})
    classes = ["org.example.app.MainActivity", "com.facebook.ads.AdView", "com.facebook.ads.internal.Util",
               "com.adjust.sdk.Adjust", "org.shaded.com.adjust.sdk.Other", "xcom.adjust.sdk.NotIt",
               "com.google.firebase.analytics.FirebaseAnalytics"]
    strings = ["https://graph.facebook.com/v19.0", "http://tracker.example.net/collect?id=1", "not a url"]
    return run(apk(root, classes=classes, strings=strings, who=who))


def test_identity_and_versions(report: Assessment) -> None:
    b = report.android
    assert b is not None
    assert (b.package, b.version_code, b.version_name, b.min_sdk, b.target_sdk) == (
        "org.example.app", "42", "4.2.0", 24, 30)
    assert report.platform == "android" and report.app_id == "org.example.app"


def test_permission_list_equals_the_manifest_exactly(report: Assessment) -> None:
    b = report.android
    assert b is not None
    assert [p.name for p in b.permissions] == sorted(PERMISSIONS)
    by_name = {p.name: p for p in b.permissions}
    assert by_name[P + "BLUETOOTH_SCAN"].element == "uses-permission-sdk-23"


def test_protection_levels_for_the_target_sdk(report: Assessment) -> None:
    b = report.android
    assert b is not None
    assert b.protection_table_api == 30
    by_name = {p.name: p for p in b.permissions}
    assert by_name[P + "CAMERA"].base == "dangerous"
    assert by_name[P + "INTERNET"].base == "normal"
    assert by_name[P + "SYSTEM_ALERT_WINDOW"].base == "signature"
    assert by_name["com.example.app.C2D"].protection == "unknown"


def test_plain_language_groups(report: Assessment) -> None:
    b = report.android
    assert b is not None
    groups = {p.name: p.group for p in b.permissions}
    assert groups[P + "CAMERA"] is PermissionGroup.CAMERA
    assert groups[P + "RECORD_AUDIO"] is PermissionGroup.MICROPHONE
    assert groups[P + "ACCESS_FINE_LOCATION"] is PermissionGroup.LOCATION
    assert groups[P + "READ_CONTACTS"] is PermissionGroup.CONTACTS
    assert groups[P + "BLUETOOTH_SCAN"] is PermissionGroup.NEARBY_DEVICES
    assert groups[P + "INTERNET"] is PermissionGroup.OTHER


def test_special_access_with_evidence(report: Assessment) -> None:
    b = report.android
    assert b is not None
    kinds = {s.kind for s in b.special_access}
    assert kinds == {SpecialAccessKind.ACCESSIBILITY, SpecialAccessKind.DEVICE_ADMIN,
                     SpecialAccessKind.NOTIFICATION_LISTENER, SpecialAccessKind.VPN_SERVICE,
                     SpecialAccessKind.OVERLAY, SpecialAccessKind.QUERY_ALL_PACKAGES}
    evidence = {s.evidence for s in b.special_access}
    assert ('<service android:name="org.example.app.Reader" '
            'android:permission="android.permission.BIND_ACCESSIBILITY_SERVICE">') in evidence
    assert '<uses-permission android:name="android.permission.SYSTEM_ALERT_WINDOW">' in evidence


def test_exported_components_explicit_and_pre_android_12_default(report: Assessment) -> None:
    b = report.android
    assert b is not None
    exported = {(c.kind, c.name): c for c in b.exported}
    assert set(exported) == {("activity", "org.example.app.MainActivity"), ("receiver", "org.example.app.Boot"),
                             ("service", "org.example.app.Reader"), ("receiver", "org.example.app.Admin")}
    assert "before Android 12" in exported["receiver", "org.example.app.Boot"].exported_because
    assert exported["service", "org.example.app.Reader"].permission == P + "BIND_ACCESSIBILITY_SERVICE"


def test_application_flags(report: Assessment) -> None:
    b = report.android
    assert b is not None
    assert b.debuggable and b.allow_backup and b.cleartext_traffic
    assert b.native_libraries == ("lib/arm64-v8a/libnative.so",)


def test_certificate_and_schemes(report: Assessment) -> None:
    b = report.android
    assert b is not None
    assert b.signature_schemes == ("v1", "v2")
    (cert,) = b.certificates
    assert cert.subject == "CN=Example Corp,O=Example,C=DK"
    assert cert.country == "DK" and cert.self_signed and not cert.debug
    assert cert.not_before.startswith("2024-01-01")


def test_trackers_with_rule_and_evidence(report: Assessment) -> None:
    b = report.android
    assert b is not None
    found = {t.name: t for t in b.trackers}
    assert {"Facebook Ads", "Adjust", "Google Firebase Analytics"} <= set(found)
    adjust = found["Adjust"]
    assert adjust.classes == ("com.adjust.sdk.Adjust", "org.shaded.com.adjust.sdk.Other")  # not xcom.adjust...
    assert adjust.rule == "exodus:52 code_signature com.adjust.sdk."
    facebook = found["Facebook Ads"]
    assert facebook.hosts == ("graph.facebook.com",)
    assert "Facebook Login" not in found  # a shared host alone is no evidence of one SDK


def test_urls_and_hosts(report: Assessment) -> None:
    b = report.android
    assert b is not None
    assert b.hosts == ("graph.facebook.com", "tracker.example.net")
    assert "http://tracker.example.net/collect?id=1" in b.urls


def test_debug_certificate_and_v1_only_are_hygiene_findings() -> None:
    who = signer("Android Debug", "US")
    result = run(apk(manifest(), who=who, v2=False))
    b = result.android
    assert b is not None and b.signature_schemes == ("v1",) and b.certificates[0].debug
    hygiene = next(f for f in result.factors if f.id == "build-hygiene")
    assert any("debug certificate" in e for e in hygiene.evidence)
    assert any("v1 (JAR) scheme only" in e for e in hygiene.evidence)


def test_split_apk_bundle_reads_base_and_splits() -> None:
    who = signer()
    base = apk(manifest(permissions=[P + "CAMERA"]), who=who)
    split_root = El("manifest", {"package": "org.example.app", "split": "config.arm64_v8a"},
                    [El("application", {"android:hasCode": False})])
    split = zip_bytes({"AndroidManifest.xml": axml(split_root),
                       "lib/arm64-v8a/libsplit.so": b"\x7fELF"})
    bundle = zip_bytes({"manifest.json": b"{}", "org.example.app.apk": base, "config.arm64_v8a.apk": split})
    result = run(bundle, "app.xapk")
    b = result.android
    assert b is not None
    assert b.package == "org.example.app"
    assert b.splits == ("config.arm64_v8a.apk", "org.example.app.apk")
    assert "lib/arm64-v8a/libsplit.so" in b.native_libraries
    assert [p.name for p in b.permissions] == [P + "CAMERA"]
    assert b.certificates


def test_catalogued_publisher_and_laws() -> None:
    result = run(apk(manifest("com.zhiliaoapp.musically", permissions=[P + "CAMERA"])))
    p = result.publisher
    assert (p.family, p.publisher, p.controller) == ("tiktok", "tiktok-ltd", "bytedance")
    assert ("CN", "bytedance", "headquarters") in p.jurisdictions
    assert any(law.citation == "art. 7" and law.country == "CN" for law in p.laws)
    assert p.claims and all(c.status == "claim" for c in p.claims)
    factor = next(f for f in result.factors if f.id == "publisher-jurisdiction")
    assert factor.contribution == 25
