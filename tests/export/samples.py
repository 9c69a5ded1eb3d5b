"""Export inputs built by hand: the Belgian federal ban, an advisory one, a shadow one, apps of every platform."""

from __future__ import annotations

import datetime as dt

from appban.export import BannedApp, ExportInput, ExportRestriction
from appban.model import App, ChildPolicy, Platform, Strictness

TIKTOK = (
    BannedApp(App(Platform.ANDROID, "com.zhiliaoapp.musically"), "TikTok", "TikTok Ltd"),
    BannedApp(App(Platform.ANDROID, "com.ss.android.ugc.trill"), "TikTok", "TikTok Ltd"),
    BannedApp(App(Platform.IOS, "com.zhiliaoapp.musically"), "TikTok", "TikTok Ltd"),
    BannedApp(App(Platform.IPADOS, "com.zhiliaoapp.musically"), "TikTok", "TikTok Ltd"),
    BannedApp(App(Platform.IOS, "com.ss.iphone.ugc.Ame"), "TikTok", "TikTok Ltd"),
    BannedApp(App(Platform.MACOS, "com.example.tiktok.mac")),
    BannedApp(App(Platform.WINDOWS, "BytedancePte.Ltd.TikTok_6yccndn6064se")),
)

REQUIRED = ExportRestriction(
    id="be-federal-tiktok-2023", version=2, issuer="be-federal", title="TikTok banned on paid devices",
    strictness=Strictness.REQUIRE, banned=tuple(sorted(TIKTOK)), grace=dt.timedelta(days=14),
    devices="funding is full or partial", children=ChildPolicy.RECOMMENDED,
    text="id: be-federal-tiktok-2023\nissuer: be-federal\n")
ADVISED = ExportRestriction(
    id="be-federal-tiktok-personal-2023", version=1, issuer="be-federal", title="Advised on personal devices",
    strictness=Strictness.ADVISE, banned=(BannedApp(App(Platform.ANDROID, "com.advised.only")),),
    children=ChildPolicy.RECOMMENDED, text="id: be-federal-tiktok-personal-2023\n")
SHADOW = ExportRestriction(
    id="zz-shadow", version=1, issuer="be-federal", title="Would ban", strictness=Strictness.REQUIRE,
    banned=(BannedApp(App(Platform.ANDROID, "com.shadow.only")), BannedApp(App(Platform.IOS, "com.shadow.ios"))),
    shadow=True, text="id: zz-shadow\n")
OTHER = ExportRestriction(
    id="us-federal-tiktok-2022", version=1, issuer="us-federal", title="US ban", strictness=Strictness.REQUIRE,
    banned=(BannedApp(App(Platform.ANDROID, "com.zhiliaoapp.musically")),), grace=dt.timedelta(hours=36),
    text="id: us-federal-tiktok-2022\n")


def belgium(*restrictions: ExportRestriction) -> ExportInput:
    chosen = restrictions or (REQUIRED, ADVISED, SHADOW)
    return ExportInput("be-federal", "Belgian federal government", tuple(chosen))
