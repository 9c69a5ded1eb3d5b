"""IPAs, the factor model, determinism, renderers and the diff between two builds."""

from __future__ import annotations

import io
import json

import pytest

from appban.catalog import default_catalog
from appban.errors import InvalidInput
from appban.risk import Action, Assessment, Rating, WorkNeed, assess, diff, to_html, to_json, to_markdown
from appban.risk.result import Factor, PublisherRisk
from appban.risk.score import decide, rate, summarise

from .builders import apk, ipa, manifest, signer

P = "android.permission."
INFO = {
    "CFBundleIdentifier": "com.zhiliaoapp.musically", "CFBundleShortVersionString": "33.1.0",
    "CFBundleVersion": "331004", "MinimumOSVersion": "14.0",
    "NSCameraUsageDescription": "to film videos", "NSMicrophoneUsageDescription": "to record sound",
    "NSLocationWhenInUseUsageDescription": "nearby content", "NSContactsUsageDescription": "find friends",
    "NSUserTrackingUsageDescription": "personalised ads",
    "NSAppTransportSecurity": {"NSAllowsArbitraryLoads": True, "NSExceptionDomains": {
        "cdn.example.com": {"NSExceptionAllowsInsecureHTTPLoads": True}, "safe.example.com": {}}},
    "CFBundleURLTypes": [{"CFBundleURLSchemes": ["snssdk1233", "tiktok"]}],
}
PROFILE = {"TeamIdentifier": ["ABCDE12345"], "TeamName": "TikTok Pte. Ltd.",
           "Entitlements": {"application-identifier": "ABCDE12345.com.zhiliaoapp.musically",
                            "com.apple.developer.networking.networkextension": ["packet-tunnel-provider"],
                            "get-task-allow": False}}


def run(data: bytes, name: str = "app.ipa", **kwargs: object) -> Assessment:
    return assess(io.BytesIO(data), name, default_catalog(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("binary", [False, True])
def test_ipa_facts(binary: bool) -> None:
    result = run(ipa(INFO, profile=PROFILE, frameworks=["FBSDKCoreKit", "AppsFlyerLib", "OwnKit"], binary=binary))
    i = result.ios
    assert i is not None
    assert (i.bundle_id, i.version, i.build, i.minimum_os) == ("com.zhiliaoapp.musically", "33.1.0", "331004", "14.0")
    assert [u.key for u in i.usage_descriptions] == sorted(k for k in INFO if k.endswith("UsageDescription"))
    assert (i.team_id, i.team_name) == ("ABCDE12345", "TikTok Pte. Ltd.")
    assert ("get-task-allow", "false") in i.entitlements
    assert i.ats.allows_arbitrary_loads and i.ats.exception_domains == ("cdn.example.com",)
    assert i.url_schemes == ("snssdk1233", "tiktok")
    assert i.frameworks == ("AppsFlyerLib", "FBSDKCoreKit", "OwnKit")
    assert {s.name for s in i.sdks} == {"Facebook SDK (Meta)", "AppsFlyer"}
    assert result.publisher.family == "tiktok"  # the catalogue knows the iOS identity too
    special = next(f for f in result.factors if f.id == "special-access")
    assert special.contribution == 6


def test_same_input_gives_byte_identical_json() -> None:
    data = apk(manifest(permissions=[P + "CAMERA", P + "READ_SMS"]), who=signer(),
               classes=["com.adjust.sdk.Adjust"])
    first = to_json(run(data, "a.apk"))
    second = to_json(run(data, "a.apk"))
    assert first == second
    assert json.loads(first)["assessed_at"] is None
    assert list(json.loads(first)) == sorted(json.loads(first))
    stamped = to_json(run(data, "a.apk", assessed_at="2026-02-01T10:00:00Z"))
    assert json.loads(stamped)["assessed_at"] == "2026-02-01T10:00:00Z"


def test_rating_follows_the_documented_model() -> None:
    result = run(apk(manifest(permissions=[P + "CAMERA", P + "RECORD_AUDIO"]), who=signer()), "a.apk")
    assert result.score == min(100, sum(f.contribution for f in result.factors))
    for factor in result.factors:
        assert 0 <= factor.contribution <= factor.weight
    device = next(f for f in result.factors if f.id == "device-access")
    assert device.contribution == 5 + 6  # camera + microphone, per docs/risk-model.md
    assert result.rating is rate(result.score)
    assert [rate(s) for s in (0, 19, 20, 44, 45, 69, 70, 100)] == [
        Rating.LOW, Rating.LOW, Rating.MEDIUM, Rating.MEDIUM, Rating.HIGH, Rating.HIGH, Rating.CRITICAL,
        Rating.CRITICAL]


def test_work_need_shapes_the_action_not_the_score() -> None:
    none, need = WorkNeed(), WorkNeed(True, "communications unit", "runs the official account")
    assert decide(Rating.HIGH, none) is Action.REQUIRE_REMOVAL
    assert decide(Rating.HIGH, need) is Action.ADVISE_AGAINST
    assert decide(Rating.MEDIUM, none) is Action.ADVISE_AGAINST
    assert decide(Rating.MEDIUM, need) is Action.ALLOW
    assert decide(Rating.CRITICAL, need) is Action.REQUIRE_REMOVAL
    assert decide(Rating.LOW, none) is Action.ALLOW
    data = apk(manifest("com.zhiliaoapp.musically", permissions=[P + "CAMERA"]))
    without = run(data, "t.apk")
    with_need = run(data, "t.apk", work_need=need)
    assert without.score == with_need.score
    assert "communications unit" in with_need.summary


def test_summary_names_the_decisive_reasons() -> None:
    factors = (Factor("a", "Alpha", 10, 9, ("first (+9)",)), Factor("b", "Beta", 10, 0, ()))
    empty = PublisherRisk(None, None, None, None, (), None, None, (), (), ())
    text = summarise("App 1.0", factors, 9, Rating.LOW, Action.ALLOW, WorkNeed(), empty)
    assert "alpha (9 of 10 points: first)" in text and "beta" not in text
    assert "No work-related need was recorded" in text


def test_markdown_and_html_escape_what_the_app_says() -> None:
    info = {"CFBundleIdentifier": "org.example.x", "NSCameraUsageDescription": "<script>alert(1)</script> [x](y)"}
    result = run(ipa(info))
    page = to_html(result)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.split("<body>")[0]  # self-contained
    markdown = to_markdown(result)
    assert "\\<script\\>" in markdown and "\\[x\\](y)" in markdown


def test_diff_of_two_builds() -> None:
    old = run(apk(manifest(permissions=[P + "CAMERA"]), who=signer("Old")), "v1.apk")
    new = run(apk(manifest(permissions=[P + "CAMERA", P + "READ_SMS"]), who=signer("New"),
                  classes=["com.adjust.sdk.Adjust"]), "v2.apk")
    change = diff(old, new)
    assert change.added_permissions == (P + "READ_SMS",) and change.removed_permissions == ()
    assert change.added_trackers == ("Adjust",)
    assert change.signer_changed and change.changed
    assert not diff(old, old).changed
    other = run(apk(manifest("org.other")), "o.apk")
    with pytest.raises(InvalidInput, match=r"not android app org\.example\.app"):
        diff(old, other)
