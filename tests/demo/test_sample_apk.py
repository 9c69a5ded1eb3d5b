"""The demo's TikTok build is a valid APK that the risk assessment reads like a real one."""

from __future__ import annotations

import io
import zipfile

from appban.catalog import default_catalog
from appban.demo import TIKTOK_PACKAGE, TIKTOK_PERMISSIONS, tiktok_apk
from appban.risk import Action, Rating, assess


def test_assesses_with_the_expected_permissions_and_trackers() -> None:
    data = tiktok_apk()
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    result = assess(io.BytesIO(data), "tiktok-demo.apk", default_catalog())
    assert result.platform == "android"
    assert result.app_id == TIKTOK_PACKAGE
    assert result.publisher.family == "tiktok"
    assert result.android is not None
    names = {p.name for p in result.android.permissions}
    assert names == set(TIKTOK_PERMISSIONS)
    dangerous = {p.name for p in result.android.permissions if p.base == "dangerous"}
    assert {"android.permission.CAMERA", "android.permission.RECORD_AUDIO", "android.permission.READ_CONTACTS",
            "android.permission.ACCESS_FINE_LOCATION"} <= dangerous
    assert {t.name for t in result.android.trackers} >= {"AppsFlyer", "Google Firebase Analytics", "Pangle"}
    assert result.android.version_name == "37.7.3"
    assert result.android.certificates  # v1-signed by the demo's own certificate
    assert result.rating in (Rating.HIGH, Rating.CRITICAL)
    assert result.action is Action.REQUIRE_REMOVAL


def test_each_build_is_well_formed() -> None:
    first, second = tiktok_apk(), tiktok_apk()
    for data in (first, second):
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        assert names[:2] == ["AndroidManifest.xml", "classes.dex"]
