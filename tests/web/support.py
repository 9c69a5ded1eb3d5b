"""A seeded installation for the dashboard tests, built through the service layer as `appban` itself would.

The example organisations and every example restriction; a small fleet in two unrelated parts of the hierarchy:
the European Commission (A: two devices past the 20-day grace period with TikTok, one inside it, three clean,
one personal unenrolled phone outside the scope) and the City of Leuven below Flanders (B). Reports are pushed on
earlier days so the trend has history. Users: `ec-admin`, `ec-auditor`, `ec-analyst` of `eu-commission`, and
`leuven-admin` of `be-leuven`, all with the password PASSWORD.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appban.access import Role
from appban.catalog import default_catalog
from appban.errors import Location
from appban.inventory import DeviceReport, InstalledApp, Visibility
from appban.model import App, Device, Exemption, Funding, Ownership, Platform
from appban.policy.organisations import parse_organisations
from appban.policy.restriction import parse_restriction
from appban.risk import assess
from appban.service import apply_reports, evaluate_rules, load_context, refresh_due, store_assessment
from appban.store import (
    Database,
    DeviceRepository,
    ExemptionRepository,
    OrganisationRepository,
    RestrictionRepository,
    UserRepository,
)
from tests.risk.builders import El, apk, manifest, signer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ACTOR = "web-tests"
PASSWORD = "correct horse battery staple"
TIKTOK = App(Platform.ANDROID, "com.zhiliaoapp.musically")
TIKTOK_IOS = App(Platform.IOS, "com.zhiliaoapp.musically")
SIGNAL = App(Platform.ANDROID, "org.thoughtcrime.securesms")
MAPS = App(Platform.IOS, "com.google.Maps")
EU_RESTRICTION = "eu-commission-tiktok-2023"
USERS = {"ec-admin": ("eu-commission", Role.ADMIN), "ec-auditor": ("eu-commission", Role.AUDITOR),
         "ec-analyst": ("eu-commission", Role.ANALYST), "leuven-admin": ("be-leuven", Role.ADMIN)}


def _report(device: str, apps: Iterable[App], *, observed_at: dt.datetime, organisation: str,
            platform: Platform = Platform.ANDROID, holder: str | None = None,
            ownership: Ownership = Ownership.CORPORATE, enrolled: bool = True) -> DeviceReport:
    return DeviceReport(device_id=device, platform=platform, observed_at=observed_at,
                        apps=tuple(InstalledApp(app, name=app.identifier.rsplit(".", 1)[-1]) for app in apps),
                        visibility=Visibility.FULL, where=Location(ACTOR), ownership=ownership, funding=Funding.FULL,
                        enrolled=enrolled, organisation=organisation, holder=holder)


def _push(database: Database, reports: list[DeviceReport], at: dt.datetime) -> None:
    with database.session() as session:
        devices = [Device(id=r.device_id, organisation=r.organisation or "eu-commission", platform=r.platform,
                          ownership=r.ownership or Ownership.CORPORATE, funding=r.funding or Funding.FULL,
                          enrolled=bool(r.enrolled), holder=r.holder) for r in reports]
        DeviceRepository(session).upsert(devices, now=at, source_format="csv")
        apply_reports(session, load_context(session), reports, source_format="csv", source_file=ACTOR, now=at)


def seed(database: Database, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    early = now - dt.timedelta(days=26)
    organisations = [entry.organisation for path in sorted((EXAMPLES / "organisations").glob("*.yaml"))
                     for entry in parse_organisations(path.read_text(), str(path))]
    with database.session() as session:
        OrganisationRepository(session).apply(organisations, actor=ACTOR, now=early)
        ids = []
        for path in sorted((EXAMPLES / "restrictions").glob("*.yaml")):
            parsed = parse_restriction(path.read_text(), path.name)
            RestrictionRepository(session).apply(parsed, actor=ACTOR, now=early, source_path=path.name)
            ids.append(parsed.restriction.id)
        evaluate_rules(session, load_context(session), ids, early)
    _push(database, [
        _report("eu/phone-1", [TIKTOK, SIGNAL], observed_at=early, organisation="eu-commission-dg-digit",
                holder="ana@ec.example.eu"),
        _report("eu/phone-2", [TIKTOK], observed_at=early, organisation="eu-commission-dg-comm",
                holder="bo@ec.example.eu"),
        _report("eu/phone-4", [SIGNAL], observed_at=early, organisation="eu-commission-dg-digit",
                holder="cy@ec.example.eu"),
        _report("eu/tablet-5", [MAPS], observed_at=early, organisation="eu-commission", platform=Platform.IPADOS,
                holder="di@ec.example.eu"),
        _report("eu/phone-7", [TIKTOK_IOS], observed_at=early, organisation="eu-commission-dg-comm",
                platform=Platform.IOS, ownership=Ownership.PERSONAL, enrolled=False, holder="ed@ec.example.eu"),
        _report("leuven/phone-1", [TIKTOK], observed_at=early, organisation="be-leuven",
                holder="jan@leuven.example.be"),
        _report("leuven/phone-2", [SIGNAL], observed_at=early, organisation="be-leuven",
                holder="els@leuven.example.be"),
    ], early)
    middle = now - dt.timedelta(days=3)
    with database.session() as session:
        refresh_due(session, load_context(session), middle)  # the 20 days of grace end for phones 1 and 2
    _push(database, [
        _report("eu/phone-3", [TIKTOK], observed_at=now - dt.timedelta(hours=2), organisation="eu-commission-dg-digit",
                holder="fi@ec.example.eu"),
        _report("eu/phone-6", [SIGNAL], observed_at=now - dt.timedelta(hours=2), organisation="eu-commission",
                holder="gu@ec.example.eu"),
    ], now - dt.timedelta(hours=1))
    with database.session() as session:
        users = UserRepository(session)
        user_ids = {name: users.create(username=name, organisation=org, role=role, password=PASSWORD, actor=ACTOR,
                                       now=early).id for name, (org, role) in USERS.items()}
        ExemptionRepository(session).grant(Exemption(
            id="ex-eu-tablet-5", restriction=EU_RESTRICTION, device="eu/tablet-5", reason="Kiosk tablet, reviewed",
            approver="DIGIT security", ends=now + dt.timedelta(days=40)), actor=ACTOR, now=middle)
    assessment_id = _assess_and_cite(database, now - dt.timedelta(days=2))
    return {"now": now, "users": user_ids, "assessment": assessment_id}


def _assess_and_cite(database: Database, at: dt.datetime) -> str:
    """A TikTok build assessed and stored for the Commission, then cited by a second version of its restriction."""
    permissions = ["CAMERA", "RECORD_AUDIO", "ACCESS_FINE_LOCATION", "READ_CONTACTS", "READ_EXTERNAL_STORAGE"]
    root = manifest(TIKTOK.identifier, permissions=[f"android.permission.{p}" for p in permissions])
    root = El(root.tag, {**root.attrs, "android:versionName": "32.5.3"}, root.children)
    build = apk(root, classes=["com.ss.android.ugc.aweme.main.MainActivity", "com.facebook.ads.AdView",
                               "com.appsflyer.AppsFlyerLib"], who=signer("TikTok Pte. Ltd.", "SG"))
    assessment = assess(io.BytesIO(build), "tiktok-32.5.3.apk", default_catalog())
    path = EXAMPLES / "restrictions" / f"{EU_RESTRICTION}.yaml"
    with database.session() as session:
        stored = store_assessment(session, assessment, organisation="eu-commission-dg-digit", actor=ACTOR, now=at)
        text = path.read_text().rstrip("\n") + (
            f"\n  - kind: assessment\n    title: {stored.record.id} TikTok 32.5.3 for Android (DIGIT)\n")
        parsed = parse_restriction(text, path.name)
        RestrictionRepository(session).apply(parsed, actor=ACTOR, now=at, source_path=path.name)
        evaluate_rules(session, load_context(session), [EU_RESTRICTION], at)
    return stored.record.id
