"""A synthetic but realistic fleet for the demo: pure and deterministic (organisations and a seed in, device
reports per day out; no I/O, no clock).

The seed cases' organisations get staff devices: the European Commission's 32,000 across its departments,
Belgium's federal services with their regions and municipalities, the Danish Parliament. Each device has a
platform, an ownership, who pays for it, whether it is enrolled, how much of it its source sees (a personal
phone's work profile shows managed apps only), a holder with an e-mail address, popular apps with real
package or bundle ids and a long tail of generated ones.

History: `weeks` weeks (at most four: every device must have reported within the 30-day staleness limit at
the end) ending at `end`. Every device sends a full snapshot on the first day; after that a source reports a
device again when its apps change (the day a ByteDance app is installed or removed), and the devices with a
ByteDance story also check in weekly on their own weekday. Devices gone silent (about 2 %) reported once, a
month or more before the end. On a few per cent of the phones (by organisation) a ByteDance app (TikTok,
TikTok Lite, CapCut, Lemon8, Douyin) comes and goes, so that the engine, fed the reports in date order,
leaves devices in grace, past their deadline, compliant after removal, exempt (the planned exemptions) and
unknown (personal sides it cannot see, devices gone silent). Only the first day's snapshots are many: that
keeps the whole build under a minute.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from appban.errors import Location
from appban.inventory import DeviceReport, InstalledApp, Visibility
from appban.model import App, Funding, Organisation, Ownership, Platform

__all__ = [
    "BYTEDANCE_APPS",
    "DEFAULT_SEED",
    "DEFAULT_WEEKS",
    "EU_RESTRICTION",
    "PROFILES",
    "Day",
    "DemoDevice",
    "DemoHolder",
    "Fleet",
    "OrgProfile",
    "PlannedExemption",
    "Story",
    "generate_fleet",
]

K = TypeVar("K")

DEFAULT_SEED = 2023
DEFAULT_WEEKS = 4
MAX_WEEKS = 4  # 28 days: the first day's snapshots stay within the 30-day staleness limit
EU_RESTRICTION = "eu-commission-tiktok-2023"
SOURCE = "appban demo"


@dataclass(frozen=True, slots=True)
class OrgProfile:
    """How one organisation's fleet looks: size at scale 1, ByteDance share, who owns and pays the devices."""

    devices: int
    bytedance_share: float  # phones and tablets holding a ByteDance app at some point of the history
    personal_share: float  # personal devices (BYOD) among all
    domain: str  # holders' e-mail domain (a reserved `.example` name: the demo never mails anyone real)
    languages: tuple[str, ...]
    personal_funding: Mapping[Funding, float]  # who pays for the personal devices (subscription, use)
    desktop_share: float = 0.1  # Windows and macOS among the devices


_NONE_ONLY = {Funding.NONE: 1.0}
_BE_PERSONAL = {Funding.NONE: 0.7, Funding.PARTIAL: 0.3}  # a federal authority pays the subscription of 30 %

PROFILES: Mapping[str, OrgProfile] = {
    # The Commission's 32,000 staff: two directorates-general are modelled, the others sit at the top.
    "eu-commission": OrgProfile(26_000, 0.04, 0.2, "commission.eu.example", ("en", "fr", "de", "it", "es"),
                                _NONE_ONLY),
    "eu-commission-dg-digit": OrgProfile(3_500, 0.03, 0.15, "commission.eu.example", ("en", "fr"), _NONE_ONLY,
                                         desktop_share=0.2),
    "eu-commission-dg-comm": OrgProfile(2_500, 0.07, 0.25, "commission.eu.example", ("en", "fr", "de"),
                                        _NONE_ONLY),
    "be-federal": OrgProfile(3_000, 0.05, 0.2, "fgov.be.example", ("nl-BE", "fr-BE"), _BE_PERSONAL),
    "be-flanders": OrgProfile(700, 0.05, 0.2, "vlaanderen.be.example", ("nl-BE",), _BE_PERSONAL),
    "be-antwerpen": OrgProfile(600, 0.07, 0.25, "antwerpen.be.example", ("nl-BE",), _BE_PERSONAL),
    "be-gent": OrgProfile(450, 0.06, 0.25, "stad.gent.example", ("nl-BE",), _BE_PERSONAL),
    "be-leuven": OrgProfile(200, 0.05, 0.25, "leuven.be.example", ("nl-BE",), _BE_PERSONAL),
    "be-wallonia": OrgProfile(500, 0.06, 0.2, "wallonie.be.example", ("fr-BE",), _BE_PERSONAL),
    "be-liege": OrgProfile(350, 0.08, 0.25, "liege.be.example", ("fr-BE",), _BE_PERSONAL),
    "be-namur": OrgProfile(180, 0.06, 0.25, "ville.namur.example", ("fr-BE",), _BE_PERSONAL),
    "be-charleroi": OrgProfile(250, 0.07, 0.25, "charleroi.be.example", ("fr-BE",), _BE_PERSONAL),
    "be-brussels": OrgProfile(400, 0.05, 0.2, "brussels.be.example", ("fr-BE", "nl-BE"), _BE_PERSONAL),
    "be-brussels-city": OrgProfile(400, 0.06, 0.25, "brucity.be.example", ("fr-BE", "nl-BE"), _BE_PERSONAL),
    "be-ixelles": OrgProfile(120, 0.07, 0.25, "ixelles.be.example", ("fr-BE",), _BE_PERSONAL),
    # 179 members and their staff: work phones, tablets and computers.
    "dk-parliament": OrgProfile(450, 0.03, 0.1, "ft.dk.example", ("da",), _NONE_ONLY, desktop_share=0.25),
}

# The catalogue's ByteDance identities (src/appban/catalog/data/families.yaml), by family and platform.
BYTEDANCE_APPS: Mapping[str, Mapping[Platform, tuple[str, ...]]] = {
    "tiktok": {Platform.ANDROID: ("com.zhiliaoapp.musically", "com.ss.android.ugc.trill"),
               Platform.IOS: ("com.zhiliaoapp.musically", "com.ss.iphone.ugc.Ame"),
               Platform.IPADOS: ("com.zhiliaoapp.musically",)},
    "tiktok-lite": {Platform.ANDROID: ("com.zhiliaoapp.musically.go", "com.ss.android.ugc.tiktok.lite")},
    "capcut": {Platform.ANDROID: ("com.lemon.lvoverseas",), Platform.IOS: ("com.lemon.lvoverseas",),
               Platform.IPADOS: ("com.lemon.lvoverseas",)},
    "lemon8": {Platform.ANDROID: ("com.bd.nproject",)},
    "douyin": {Platform.ANDROID: ("com.ss.android.ugc.aweme",), Platform.IOS: ("com.ss.iphone.ugc.Aweme",),
               Platform.IPADOS: ("com.ss.iphone.ugc.Aweme",)},
}
_FAMILY_WEIGHTS = {"tiktok": 70, "tiktok-lite": 8, "capcut": 15, "lemon8": 5, "douyin": 2}
_NAMES = {"tiktok": "TikTok", "tiktok-lite": "TikTok Lite", "capcut": "CapCut", "lemon8": "Lemon8",
          "douyin": "抖音"}

# Popular apps with their real identifiers: (display name, identifier, share of devices with it, managed).
# Managed apps are the ones the organisation deploys: a work profile or User Enrollment shows only those.
_POPULAR: Mapping[Platform, tuple[tuple[str, str, float, bool], ...]] = {
    Platform.ANDROID: (
        ("Microsoft Outlook", "com.microsoft.office.outlook", 0.92, True),
        ("Microsoft Teams", "com.microsoft.teams", 0.85, True),
        ("Microsoft Authenticator", "com.azure.authenticator", 0.8, True),
        ("Intune Company Portal", "com.microsoft.windowsintune.companyportal", 0.75, True),
        ("Microsoft OneDrive", "com.microsoft.skydrive", 0.5, True),
        ("Microsoft Edge", "com.microsoft.emmx", 0.35, True),
        ("Microsoft Word", "com.microsoft.office.word", 0.3, True),
        ("Microsoft Excel", "com.microsoft.office.excel", 0.25, True),
        ("Webex Meetings", "com.cisco.webex.meetings", 0.2, True),
        ("Chrome", "com.android.chrome", 0.95, False),
        ("Gmail", "com.google.android.gm", 0.9, False),
        ("Google Maps", "com.google.android.apps.maps", 0.88, False),
        ("YouTube", "com.google.android.youtube", 0.85, False),
        ("WhatsApp", "com.whatsapp", 0.75, False),
        ("Signal", "org.thoughtcrime.securesms", 0.35, False),
        ("Spotify", "com.spotify.music", 0.4, False),
        ("LinkedIn", "com.linkedin.android", 0.35, False),
        ("Instagram", "com.instagram.android", 0.3, False),
        ("Facebook", "com.facebook.katana", 0.25, False),
        ("X", "com.twitter.android", 0.15, False),
        ("Telegram", "org.telegram.messenger", 0.15, False),
        ("Google Translate", "com.google.android.apps.translate", 0.3, False),
        ("Zoom", "us.zoom.videomeetings", 0.2, False),
        ("Firefox", "org.mozilla.firefox", 0.1, False),
        ("Netflix", "com.netflix.mediaclient", 0.2, False),
        ("Duolingo", "com.duolingo", 0.12, False),
        ("Uber", "com.ubercab", 0.15, False),
        ("Booking.com", "com.booking", 0.15, False),
        ("Waze", "com.waze", 0.12, False),
        ("Snapchat", "com.snapchat.android", 0.06, False),
    ),
    Platform.IOS: (
        ("Microsoft Outlook", "com.microsoft.Office.Outlook", 0.92, True),
        ("Microsoft Teams", "com.microsoft.skype.teams", 0.85, True),
        ("Microsoft Authenticator", "com.microsoft.azureauthenticator", 0.8, True),
        ("Intune Company Portal", "com.microsoft.CompanyPortal", 0.75, True),
        ("Microsoft OneDrive", "com.microsoft.skydrive", 0.5, True),
        ("Microsoft Edge", "com.microsoft.msedge", 0.3, True),
        ("Microsoft Word", "com.microsoft.Office.Word", 0.3, True),
        ("Microsoft Excel", "com.microsoft.Office.Excel", 0.25, True),
        ("Chrome", "com.google.chrome.ios", 0.45, False),
        ("Gmail", "com.google.Gmail", 0.4, False),
        ("Google Maps", "com.google.Maps", 0.6, False),
        ("YouTube", "com.google.ios.youtube", 0.75, False),
        ("WhatsApp", "net.whatsapp.WhatsApp", 0.78, False),
        ("Signal", "org.whispersystems.signal", 0.4, False),
        ("Spotify", "com.spotify.client", 0.45, False),
        ("LinkedIn", "com.linkedin.LinkedIn", 0.4, False),
        ("Instagram", "com.burbn.instagram", 0.35, False),
        ("Facebook", "com.facebook.Facebook", 0.25, False),
        ("X", "com.atebits.Tweetie2", 0.18, False),
        ("Telegram", "ph.telegra.Telegraph", 0.12, False),
        ("Google Translate", "com.google.Translate", 0.25, False),
        ("Zoom", "us.zoom.videomeetings", 0.2, False),
        ("Firefox", "org.mozilla.ios.Firefox", 0.08, False),
        ("Netflix", "com.netflix.Netflix", 0.25, False),
        ("Duolingo", "com.duolingo.DuolingoMobile", 0.12, False),
        ("Uber", "com.ubercab.UberClient", 0.2, False),
        ("Waze", "com.waze.iphone", 0.1, False),
        ("Snapchat", "com.toyopagroup.picaboo", 0.06, False),
    ),
    Platform.WINDOWS: (
        ("Microsoft Teams", "MSTeams_8wekyb3d8bbwe", 0.95, True),
        ("Outlook (new)", "Microsoft.OutlookForWindows_8wekyb3d8bbwe", 0.6, True),
        ("Company Portal", "Microsoft.CompanyPortal_8wekyb3d8bbwe", 0.9, True),
        ("Microsoft Edge", "Microsoft.MicrosoftEdge.Stable_8wekyb3d8bbwe", 0.98, True),
        ("Microsoft To Do", "Microsoft.Todos_8wekyb3d8bbwe", 0.3, True),
        ("Windows Terminal", "Microsoft.WindowsTerminal_8wekyb3d8bbwe", 0.4, False),
        ("Calculator", "Microsoft.WindowsCalculator_8wekyb3d8bbwe", 0.95, False),
        ("Notepad", "Microsoft.WindowsNotepad_8wekyb3d8bbwe", 0.95, False),
        ("Snipping Tool", "Microsoft.ScreenSketch_8wekyb3d8bbwe", 0.9, False),
        ("WhatsApp", "5319275A.WhatsAppDesktop_cv1g1gvanyjgm", 0.2, False),
        ("Spotify", "SpotifyAB.SpotifyMusic_zpdnekdrzrea0", 0.15, False),
    ),
    Platform.MACOS: (
        ("Microsoft Outlook", "com.microsoft.Outlook", 0.9, True),
        ("Microsoft Teams", "com.microsoft.teams2", 0.9, True),
        ("Microsoft Word", "com.microsoft.Word", 0.7, True),
        ("Microsoft Excel", "com.microsoft.Excel", 0.6, True),
        ("Company Portal", "com.microsoft.CompanyPortal", 0.85, True),
        ("Google Chrome", "com.google.Chrome", 0.6, False),
        ("Firefox", "org.mozilla.firefox", 0.25, False),
        ("Microsoft Edge", "com.microsoft.edgemac", 0.3, False),
        ("Signal", "org.whispersystems.signal-desktop", 0.3, False),
        ("WhatsApp", "net.whatsapp.WhatsApp", 0.35, False),
        ("Spotify", "com.spotify.client", 0.3, False),
        ("Zoom", "us.zoom.xos", 0.3, False),
        ("Slack", "com.tinyspeck.slackmacgap", 0.2, False),
    ),
}
_POPULAR = {**_POPULAR, Platform.IPADOS: _POPULAR[Platform.IOS]}

_VENDORS = ("nordlys", "brightpath", "citymove", "kitchenly", "moneywise", "fittrack", "photofix", "newsdaily",
            "weatherpro", "parkit", "tripnote", "bookworm", "scanmate", "quizzy", "gardenia", "petpal", "runlog",
            "podnest", "wordly", "mealplan", "stellar", "bluefin", "railgo", "cyclo", "museo", "tandem", "pixelo",
            "sprout", "harbor", "velox", "lumen", "atlas", "orbita", "quill", "cadence", "meadow", "zenith",
            "kestrel", "marigold", "tinker")
_PRODUCTS = ("app", "mobile", "plus", "lite", "pro", "go", "notes", "scan", "maps", "radio", "cam", "pay")
_TLDS = ("com", "eu", "io", "be", "dk")
_TAIL_SIZE = 1_500

_FIRST = {
    "en": ("Anna", "James", "Laura", "Michael", "Sarah", "David", "Emma", "Daniel", "Olivia", "Thomas"),
    "fr": ("Camille", "Julien", "Sophie", "Nicolas", "Élodie", "Antoine", "Claire", "Mathieu", "Léa", "Hugo"),
    "de": ("Lukas", "Hannah", "Jonas", "Lea", "Felix", "Mia", "Paul", "Katharina", "Maximilian", "Sophie"),
    "it": ("Giulia", "Marco", "Chiara", "Luca", "Francesca", "Matteo", "Sara", "Alessandro", "Elena", "Davide"),
    "es": ("Lucía", "Javier", "María", "Carlos", "Paula", "Diego", "Marta", "Pablo", "Elena", "Sergio"),
    "nl-BE": ("An", "Jan", "Els", "Pieter", "Lotte", "Wout", "Sofie", "Bart", "Lien", "Koen"),
    "fr-BE": ("Marie", "Ben", "Nathalie", "Olivier", "Aurélie", "Pierre", "Céline", "François", "Manon", "Luc"),
    "da": ("Mette", "Lars", "Sofie", "Anders", "Camilla", "Rasmus", "Ida", "Mikkel", "Freja", "Søren"),
}
_LAST = {
    "en": ("Smith", "Murphy", "Walsh", "Byrne", "Taylor", "Brown", "Kelly", "Evans", "Wilson", "Clarke"),
    "fr": ("Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Girard", "Roux", "Fournier", "Lefèvre", "Mercier"),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch"),
    "it": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"),
    "es": ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
    "nl-BE": ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
              "De Smet"),
    "fr-BE": ("Dupont", "Lambert", "Dubois", "Leclercq", "Renard", "Simon", "Hermans", "Lejeune", "Collard",
              "Dumont"),
    "da": ("Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
           "Jørgensen"),
}


class Story(StrEnum):
    """What happens to a device's ByteDance app over the history."""

    KEPT = "kept"  # there from the start, never removed: past the deadline if restricted
    REMOVED = "removed"  # there from the start, removed during the history
    LATE_KEPT = "late_kept"  # installed early in the history and kept
    RECENT = "recent"  # installed in the last two weeks: in grace if restricted
    LATE_REMOVED = "late_removed"  # installed during the history and removed again


@dataclass(frozen=True, slots=True)
class DemoHolder:
    email: str
    name: str
    organisation: str
    language: str


@dataclass(frozen=True, slots=True)
class DemoDevice:
    """A device and its story: `checkin` is the weekday it checks in on (0..6 from the first day) if it has a
    ByteDance story; `silent_day` the one day (before the history) a device gone silent reported."""

    id: str
    organisation: str
    platform: Platform
    ownership: Ownership
    funding: Funding
    enrolled: bool
    visibility: Visibility
    holder: str
    name: str
    checkin: int
    silent_day: int | None
    apps: tuple[InstalledApp, ...]  # what the source sees, apart from the ByteDance app
    bytedance: InstalledApp | None = None
    family: str | None = None
    story: Story | None = None
    installed: int = 0  # day index the ByteDance app appears
    removed: int | None = None  # day index it is gone


@dataclass(frozen=True, slots=True)
class Day:
    """One day of history: the reports received that day, and the time they are imported (`at`)."""

    index: int
    at: dt.datetime
    reports: tuple[DeviceReport, ...]


@dataclass(frozen=True, slots=True)
class PlannedExemption:
    id: str
    restriction: str
    reason: str
    approver: str
    day: int  # granted on this day of the history
    ends: dt.datetime
    device: str | None = None
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class Fleet:
    devices: tuple[DemoDevice, ...]
    holders: tuple[DemoHolder, ...]
    days: tuple[Day, ...]
    exemptions: tuple[PlannedExemption, ...]
    end: dt.datetime

    @property
    def reports(self) -> int:
        return sum(len(day.reports) for day in self.days)

    def visible_apps(self, device: DemoDevice, day: int) -> tuple[InstalledApp, ...]:
        return _visible(device, day)


def generate_fleet(organisations: Sequence[Organisation], *, end: dt.datetime, seed: int = DEFAULT_SEED,
                   size: float = 1.0, weeks: int = DEFAULT_WEEKS) -> Fleet:
    """The demo fleet for the organisations that have a profile (others get no devices).

    `end` is the time of the last day's imports (UTC); `size` scales every organisation's device count (at
    least 20 each); `weeks` of weekly check-ins end at `end`. The same arguments give the same fleet.
    """
    if end.tzinfo is None:
        raise ValueError("end must be a UTC-aware time")
    if not 0 < size <= 10 or not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"size must be in (0, 10] and weeks in [1, {MAX_WEEKS}]")
    known = {org.id for org in organisations}
    total_days = 7 * weeks
    tails = {platform: _tail(platform, _rng(seed, f"tail:{platform}")) for platform in Platform}
    devices: list[DemoDevice] = []
    holders: list[DemoHolder] = []
    emails: dict[str, int] = {}  # address without its number -> holders with it so far (organisations share domains)
    for org_id in sorted(known & PROFILES.keys()):
        org_devices, org_holders = _organisation(org_id, PROFILES[org_id], _rng(seed, org_id),
                                                 size, total_days, tails, emails)
        devices += org_devices
        holders += org_holders
    exemptions = _exemptions(devices, end, total_days, _rng(seed, "exemptions"))
    days = _days(devices, end, total_days)
    return Fleet(devices=tuple(devices), holders=tuple(holders), days=days, exemptions=exemptions, end=end)


def _rng(seed: int, label: str) -> random.Random:
    """A generator of its own for each part of the fleet, so that one part changing leaves the others alone.
    Synthetic data that must repeat from a seed, not secrets: `random` is the right tool."""
    return random.Random(f"{seed}:{label}")  # noqa: S311


# --- one organisation -----------------------------------------------------------------------------------


def _organisation(org_id: str, profile: OrgProfile, rng: random.Random, size: float, total_days: int,
                  tails: Mapping[Platform, tuple[tuple[InstalledApp, ...], list[float]]], emails: dict[str, int],
                  ) -> tuple[list[DemoDevice], list[DemoHolder]]:
    count = max(20, round(profile.devices * size))
    devices: list[DemoDevice] = []
    holders: list[DemoHolder] = []
    holder: DemoHolder | None = None
    for number in range(count):
        # About one holder in seven has a second device (a tablet or a laptop beside the phone).
        if holder is None or rng.random() >= 0.15:
            holder = _holder(org_id, profile, rng, emails)
            holders.append(holder)
        devices.append(_device(org_id, profile, rng, number, holder, total_days, tails))
    _ensure_stories(org_id, devices, rng, total_days)
    return devices, holders


def _holder(org_id: str, profile: OrgProfile, rng: random.Random, emails: dict[str, int]) -> DemoHolder:
    language = rng.choice(profile.languages)
    base = language.split("-")[0] if language not in _FIRST else language
    first, last = rng.choice(_FIRST[base]), rng.choice(_LAST[base])
    local = _ascii(f"{first}.{last}")
    # Namesakes get a number, as mail systems do: an.peeters@, an.peeters2@, ...
    address = f"{local}@{profile.domain}"
    seen = emails[address] = emails.get(address, 0) + 1
    email = f"{local}{seen if seen > 1 else ''}@{profile.domain}"
    return DemoHolder(email=email, name=f"{first} {last}", organisation=org_id, language=language)


def _device(org_id: str, profile: OrgProfile, rng: random.Random, number: int, holder: DemoHolder,
            total_days: int, tails: Mapping[Platform, tuple[tuple[InstalledApp, ...], list[float]]],
            ) -> DemoDevice:
    ownership = Ownership.PERSONAL if rng.random() < profile.personal_share else Ownership.CORPORATE
    if ownership is Ownership.CORPORATE and rng.random() < profile.desktop_share:
        platform = Platform.WINDOWS if rng.random() < 0.75 else Platform.MACOS
    else:
        roll = rng.random()
        platform = Platform.ANDROID if roll < 0.45 else Platform.IOS if roll < 0.88 else Platform.IPADOS
    if ownership is Ownership.CORPORATE:
        funding = Funding.FULL
        enrolled = True
        # Corporate phones are fully managed or supervised; a few Android ones are COPE with a work profile.
        managed_only = platform is Platform.ANDROID and rng.random() < 0.08
    else:
        funding = _pick(rng, profile.personal_funding)
        enrolled = rng.random() < 0.92  # the rest reach mail through a registration, not the device service
        managed_only = True  # a work profile or User Enrollment: the source sees managed apps only
    visibility = Visibility.MANAGED_ONLY if managed_only else Visibility.FULL
    checkin = rng.randrange(7)
    # About 2 % of the devices fell silent (lost, replaced, left the organisation) a month or more ago.
    silent_day = total_days - rng.randrange(32, 46) if rng.random() < 0.02 else None
    apps = _apps(platform, rng, tails, managed_only)
    device_id = _device_id(platform, org_id, number, rng)
    name = f"{holder.name.split()[0]}'s {_KIND_NAMES[platform]}"
    device = DemoDevice(id=device_id, organisation=org_id, platform=platform, ownership=ownership, funding=funding,
                        enrolled=enrolled, visibility=visibility, holder=holder.email, name=name,
                        checkin=checkin, silent_day=silent_day, apps=apps)
    if platform in _PHONES and silent_day is None and rng.random() < profile.bytedance_share:
        device = _with_bytedance(device, rng, total_days)
    return device


_PHONES = (Platform.ANDROID, Platform.IOS, Platform.IPADOS)
_KIND_NAMES = {Platform.ANDROID: "Android phone", Platform.IOS: "iPhone", Platform.IPADOS: "iPad",
               Platform.WINDOWS: "laptop", Platform.MACOS: "MacBook"}


_POPULAR_APPS: Mapping[Platform, tuple[tuple[InstalledApp, float, bool], ...]] = {
    platform: tuple((InstalledApp(App(platform, identifier), name=name), share, managed)
                    for name, identifier, share, managed in apps)
    for platform, apps in _POPULAR.items()}


def _apps(platform: Platform, rng: random.Random,
          tails: Mapping[Platform, tuple[tuple[InstalledApp, ...], list[float]]],
          managed_only: bool) -> tuple[InstalledApp, ...]:
    draw = rng.random
    chosen = [app for app, share, managed in _POPULAR_APPS[platform]
              if (managed or not managed_only) and draw() < share]
    if not managed_only:
        pool, weights = tails[platform]
        picked = {app.app: app for app in rng.choices(pool, cum_weights=weights, k=rng.randint(1, 4))}
        chosen += picked.values()
    return tuple(chosen)


def _with_bytedance(device: DemoDevice, rng: random.Random, total_days: int) -> DemoDevice:
    family = _pick(rng, _FAMILY_WEIGHTS)
    if device.platform not in BYTEDANCE_APPS[family]:
        family = "tiktok"  # TikTok Lite and Lemon8 are Android apps: an iPhone holder has TikTok instead
    identifiers = BYTEDANCE_APPS[family][device.platform]
    # The regional variants are rare: most phones carry the global package.
    identifier = identifiers[0] if len(identifiers) == 1 or rng.random() < 0.9 else identifiers[1]
    app = InstalledApp(App(device.platform, identifier), name=_NAMES[family])
    story = _pick(rng, {Story.KEPT: 0.25, Story.REMOVED: 0.3, Story.LATE_KEPT: 0.15, Story.RECENT: 0.15,
                        Story.LATE_REMOVED: 0.15})
    return _story(device, app, family, story, rng, total_days)


def _story(device: DemoDevice, app: InstalledApp, family: str, story: Story, rng: random.Random,
           total_days: int) -> DemoDevice:
    last = total_days - 1
    installed, removed = 0, None
    if story is Story.REMOVED:
        removed = rng.randrange(min(3, last - 1), last)
    elif story is Story.LATE_KEPT:
        installed = rng.randrange(1, max(2, last - 20))  # seen 21 days or more before the end: past 20 days
    elif story is Story.RECENT:
        installed = rng.randrange(max(1, last - 12), last)  # seen within the last 12 days: in a 20-day grace
    elif story is Story.LATE_REMOVED:
        installed = rng.randrange(1, max(2, last // 2))
        removed = rng.randrange(installed + 1, last)
    return DemoDevice(id=device.id, organisation=device.organisation, platform=device.platform,
                      ownership=device.ownership, funding=device.funding, enrolled=device.enrolled,
                      visibility=device.visibility, holder=device.holder, name=device.name, checkin=device.checkin,
                      silent_day=device.silent_day, apps=device.apps, bytedance=app, family=family, story=story,
                      installed=installed, removed=removed)


# The stories a small fleet must still tell, where they matter: the Commission's restriction is the seed case
# that is enforced now (Belgium's expired in 2023, Denmark's only advises), and DG COMM's social media team is
# where the exemptions go.
_WANTED: Mapping[str, tuple[Story, ...]] = {
    "eu-commission": (Story.KEPT, Story.KEPT, Story.REMOVED, Story.RECENT, Story.LATE_KEPT),
    "eu-commission-dg-comm": (Story.KEPT, Story.KEPT, Story.LATE_KEPT),
}


def _ensure_stories(org_id: str, devices: list[DemoDevice], rng: random.Random, total_days: int) -> None:
    """At least the wanted stories on visible, reporting corporate phones with TikTok, whatever the size (the
    first plain phones get them if chance gave too few)."""
    wanted = _WANTED.get(org_id, ())
    if total_days < 21:
        return
    have = [d.story for d in devices if d.family == "tiktok" and _clean_corporate_phone(d)]
    for story in dict.fromkeys(wanted):
        for _ in range(max(0, wanted.count(story) - have.count(story))):
            for index, device in enumerate(devices):
                if device.story is None and _clean_corporate_phone(device):
                    app = InstalledApp(App(device.platform, BYTEDANCE_APPS["tiktok"][device.platform][0]),
                                       name=_NAMES["tiktok"])
                    devices[index] = _story(device, app, "tiktok", story, rng, total_days)
                    break


def _clean_corporate_phone(device: DemoDevice) -> bool:
    return (device.platform in _PHONES and device.ownership is Ownership.CORPORATE
            and device.visibility is Visibility.FULL and device.silent_day is None)


# --- exemptions -----------------------------------------------------------------------------------------

_EXEMPTION_REASONS = {
    "eu-commission-dg-comm": ("Runs the Commission's official TikTok account for DG COMM's social media team",
                              "Head of Unit, DG COMM social media"),
    "eu-commission-dg-digit": ("Analyses the TikTok app for DIGIT's cybersecurity threat assessment",
                               "Director, DIGIT.S Cybersecurity"),
    "eu-commission": ("Monitors TikTok content for the Spokesperson's Service (press monitoring)",
                      "Chief Spokesperson"),
}


def _exemptions(devices: Sequence[DemoDevice], end: dt.datetime, total_days: int, rng: random.Random,
                ) -> tuple[PlannedExemption, ...]:
    """A few Commission staff whose work needs TikTok are exempted, by device or by holder, in mid-history."""
    out: list[PlannedExemption] = []
    for org_id, (reason, approver) in _EXEMPTION_REASONS.items():
        candidates = [d for d in devices if d.organisation == org_id and d.family == "tiktok"
                      and d.story in (Story.KEPT, Story.LATE_KEPT) and _clean_corporate_phone(d)]
        for number, device in enumerate(candidates[:3 if org_id == "eu-commission-dg-comm" else 1]):
            day = min(total_days - 1, max(device.installed + 3, total_days // 3 + rng.randrange(7)))
            by_holder = number % 2 == 1
            out.append(PlannedExemption(
                id=f"ex-demo-{org_id.removeprefix('eu-commission').strip('-') or 'sg'}-{number + 1}",
                restriction=EU_RESTRICTION, reason=reason, approver=approver, day=day,
                ends=end + dt.timedelta(days=rng.choice((60, 90, 180))),
                device=None if by_holder else device.id, holder=device.holder if by_holder else None))
    return tuple(out)


# --- days -----------------------------------------------------------------------------------------------


def _days(devices: Sequence[DemoDevice], end: dt.datetime, total_days: int) -> tuple[Day, ...]:
    """Every day from the silent devices' last reports to the end, each with the reports received that day."""
    by_day: dict[int, list[DemoDevice]] = {index: [] for index in range(total_days)}
    for device in devices:
        for index in _report_days(device, total_days):
            by_day.setdefault(index, []).append(device)
    where = Location(SOURCE)
    days = []
    for index in sorted(by_day):
        at = end - dt.timedelta(days=total_days - 1 - index)
        # Check-ins spread over the ten hours before the import runs.
        times = [at - dt.timedelta(minutes=minutes) for minutes in range(30, 630)]
        reports = tuple(DeviceReport(
            device_id=device.id, platform=device.platform, observed_at=times[zlib.crc32(device.id.encode()) % 600],
            apps=_visible(device, index), visibility=device.visibility, where=where, ownership=device.ownership,
            funding=device.funding, enrolled=device.enrolled, organisation=device.organisation,
            holder=device.holder, name=device.name) for device in by_day[index])
        days.append(Day(index=index, at=at, reports=reports))
    return tuple(days)


def _report_days(device: DemoDevice, total_days: int) -> list[int]:
    if device.silent_day is not None:
        return [device.silent_day]
    if device.story is None or device.visibility is not Visibility.FULL:
        return [0]
    changes = {0, device.installed, *(() if device.removed is None else (device.removed,))}
    return sorted(changes | set(range(device.checkin, total_days, 7)))


def _visible(device: DemoDevice, day: int) -> tuple[InstalledApp, ...]:
    if device.bytedance is None or device.visibility is not Visibility.FULL:
        return device.apps
    present = device.installed <= day and (device.removed is None or day < device.removed)
    return (*device.apps, device.bytedance) if present else device.apps


# --- identities -----------------------------------------------------------------------------------------


def _tail(platform: Platform, rng: random.Random) -> tuple[tuple[InstalledApp, ...], list[float]]:
    """A long tail of generated apps with Zipf-like popularity, as cumulative weights for `choices`."""
    seen: set[str] = set()
    apps: list[InstalledApp] = []
    while len(apps) < _TAIL_SIZE:
        vendor, product, tld = rng.choice(_VENDORS), rng.choice(_PRODUCTS), rng.choice(_TLDS)
        number = rng.randrange(100)
        label = f"{vendor.title()}{product.title()}"
        if platform is Platform.WINDOWS:
            identifier = f"{vendor.title()}.{product.title()}{number}_{_suffix(rng)}"
        elif platform in (Platform.IOS, Platform.IPADOS, Platform.MACOS):
            identifier = f"{tld}.{vendor}.{product.title()}{number}"
        else:
            identifier = f"{tld}.{vendor}.{product}{number}"
        if identifier in seen:
            continue
        seen.add(identifier)
        apps.append(InstalledApp(App(platform, identifier), name=f"{label} {number}"))
    cumulative: list[float] = []
    total = 0.0
    for rank in range(len(apps)):
        total += 1.0 / (rank + 1) ** 1.1
        cumulative.append(total)
    return tuple(apps), cumulative


def _suffix(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghjkmnpqrstvwxyz0123456789") for _ in range(13))


def _device_id(platform: Platform, org_id: str, number: int, rng: random.Random) -> str:
    """Ids as the sources name devices: AMAPI resource names, Apple UDIDs, Intune device ids (GUIDs)."""
    if platform is Platform.ANDROID:
        return f"enterprises/LC0{zlib.crc32(org_id.encode()) % 100000:05x}/devices/{rng.getrandbits(64):016x}"
    if platform in (Platform.IOS, Platform.IPADOS):
        return f"00008{rng.choice('01')}{rng.randrange(10, 99)}-{rng.getrandbits(64):016X}"
    hex32 = f"{rng.getrandbits(128):032x}"
    guid = f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
    return guid if platform is Platform.WINDOWS else guid.upper()


def _pick(rng: random.Random, weights: Mapping[K, float]) -> K:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


_ASCII = str.maketrans({"é": "e", "è": "e", "ë": "e", "à": "a", "ä": "a", "ö": "o", "ü": "u", "ø": "o",
                        "å": "a", "æ": "ae", "í": "i", "ç": "c", " ": "", "ß": "ss"})


def _ascii(text: str) -> str:
    return text.lower().translate(_ASCII)
