"""The transparent score: a sum of documented factors (docs/risk-model.md), a rating, a recommended action
and a written summary naming the decisive reasons.

Each factor has a weight (the most it can add) and a contribution (what this build adds), computed from
evidence listed beside it, so a reader can redo the sum by hand. The work-related need does not change the
score: it changes what to do about it, as in the Danish CFCS method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from appban.risk.permissions import GROUP_LABELS, SPECIAL_LABELS, PermissionGroup, SpecialAccessKind
from appban.risk.publisher import LawBook
from appban.risk.result import Action, AndroidBuild, Factor, IosBuild, PublisherRisk, Rating, WorkNeed
from appban.risk.trackers import TrackerEvidence

__all__ = [
    "GROUP_POINTS",
    "OLDEST_SCORED_API",
    "RATING_THRESHOLDS",
    "SPECIAL_POINTS",
    "decide",
    "factors_for",
    "rate",
    "summarise",
]

GROUP_POINTS: Mapping[PermissionGroup, int] = MappingProxyType({
    PermissionGroup.LOCATION: 6, PermissionGroup.MICROPHONE: 6, PermissionGroup.CAMERA: 5,
    PermissionGroup.CONTACTS: 5, PermissionGroup.SMS: 6, PermissionGroup.CALL_LOG: 5, PermissionGroup.FILES: 3,
    PermissionGroup.PHONE_IDENTITY: 3, PermissionGroup.NEARBY_DEVICES: 2, PermissionGroup.ACCOUNTS: 3,
    PermissionGroup.CALENDAR: 3, PermissionGroup.BODY_SENSORS: 2, PermissionGroup.PHYSICAL_ACTIVITY: 1,
})
SPECIAL_POINTS: Mapping[SpecialAccessKind, int] = MappingProxyType({
    SpecialAccessKind.ACCESSIBILITY: 10, SpecialAccessKind.DEVICE_ADMIN: 8,
    SpecialAccessKind.NOTIFICATION_LISTENER: 8, SpecialAccessKind.VPN_SERVICE: 6,
    SpecialAccessKind.INPUT_METHOD: 6, SpecialAccessKind.MANAGE_EXTERNAL_STORAGE: 5,
    SpecialAccessKind.REQUEST_INSTALL_PACKAGES: 5, SpecialAccessKind.OVERLAY: 4, SpecialAccessKind.USAGE_STATS: 4,
    SpecialAccessKind.QUERY_ALL_PACKAGES: 3,
})
# A permission whose maxSdkVersion stops below this API level (Android 10) is asked for only on Android
# versions that get no security updates: the common `WRITE_EXTERNAL_STORAGE maxSdkVersion="18"` idiom means
# "not needed on any device still in use", so it is listed but does not score.
OLDEST_SCORED_API = 29
_PROFILING = frozenset({"Advertisement", "Profiling", "Location", "Identification"})
WEIGHTS: Mapping[str, int] = MappingProxyType({
    "device-access": 25, "special-access": 25, "trackers": 15, "exposed-surface": 5, "build-hygiene": 10,
    "publisher-jurisdiction": 25, "publisher-unknown": 5, "tampering": 45,
})
# (lowest score for the rating, rating), highest first.
RATING_THRESHOLDS: tuple[tuple[int, Rating], ...] = (
    (70, Rating.CRITICAL), (45, Rating.HIGH), (20, Rating.MEDIUM), (0, Rating.LOW))
# iOS entitlements that are the analogue of Android special access.
_IOS_SPECIAL: Mapping[str, tuple[SpecialAccessKind, int]] = MappingProxyType({
    "com.apple.developer.networking.networkextension": (SpecialAccessKind.VPN_SERVICE, 6),
    "com.apple.developer.networking.vpn.api": (SpecialAccessKind.VPN_SERVICE, 6),
})


def factors_for(android: AndroidBuild | None, ios: IosBuild | None, publisher: PublisherRisk,
                book: LawBook) -> tuple[Factor, ...]:
    factors = [*(_android(android) if android else _ios(ios) if ios else ()), *_publisher(publisher, book)]
    return tuple(factors)


def _capped(factor_id: str, title: str, points: int, evidence: Sequence[str]) -> Factor:
    weight = WEIGHTS[factor_id]
    return Factor(factor_id, title, weight, min(points, weight), tuple(evidence))


def _device_access(groups: Mapping[PermissionGroup, list[str]]) -> Factor:
    evidence = [f"{GROUP_LABELS[g]} (+{GROUP_POINTS[g]}): {', '.join(sorted(names))}"
                for g, names in sorted(groups.items()) if g in GROUP_POINTS]
    points = sum(GROUP_POINTS.get(g, 0) for g in groups)
    return _capped("device-access", "Access to personal data and sensors", points, evidence)


def _android(build: AndroidBuild) -> list[Factor]:
    groups: dict[PermissionGroup, list[str]] = {}
    for permission in build.permissions:
        if permission.base != "dangerous":  # normal ones are granted silently and reach no personal data
            continue
        if permission.max_sdk is not None and permission.max_sdk < OLDEST_SCORED_API:
            continue  # requested only on Android versions no work device should run (listed, not scored)
        groups.setdefault(permission.group, []).append(permission.name.rsplit(".", 1)[-1])
    kinds = sorted({s.kind for s in build.special_access})
    special = _capped("special-access", "Special access beyond runtime permissions",
                      sum(SPECIAL_POINTS[k] for k in kinds),
                      [f"{SPECIAL_LABELS[k]} (+{SPECIAL_POINTS[k]}): "
                       + "; ".join(s.evidence for s in build.special_access if s.kind == k) for k in kinds])
    unprotected = [c for c in build.exported if not c.permission]
    exposed = _capped("exposed-surface", "Components other apps can start without a permission",
                      len(unprotected), [f"{c.kind} {c.name} ({c.exported_because}) (+1)" for c in unprotected[:20]])
    hygiene: list[tuple[str, int]] = []
    if build.debuggable:
        hygiene.append(("android:debuggable=true: any computer it is plugged into can read its data", 5))
    if any(c.debug for c in build.certificates):
        hygiene.append(("signed with the Android SDK debug certificate (CN=Android Debug)", 5))
    if build.prepended_bytes and not build.prepended_dex:
        hygiene.append((f"{build.prepended_bytes} bytes of unknown data before the first zip entry", 2))
    if not build.certificates:
        hygiene.append(("no valid signing certificate could be read"
                        + (f" ({build.signing_notes[0]})" if build.signing_notes else ""), 5))
    elif build.signature_schemes == ("v1",):
        hygiene.append(("signed with the v1 (JAR) scheme only, open to the Janus attack on old Android", 2))
    if build.cleartext_traffic:
        hygiene.append(("cleartext HTTP allowed (usesCleartextTraffic, or the pre-Android 9 default)", 3))
    if build.allow_backup:
        hygiene.append(("android:allowBackup (default true): app data can be copied off the device by backup", 2))
    # Tampering is its own factor, weighed to decide alone: a build altered to run hidden code or to pass for
    # another publisher is not a hygiene lapse, whatever else it asks for.
    tampering: list[tuple[str, int]] = []
    if build.prepended_dex:
        tampering.append(("a DEX file is hidden before the first zip entry (the Janus attack, CVE-2017-13156): "
                          "Android 5.0-8.0 runs it instead of the signed code", 45))
    tampering += [(note, 25) for note in build.signing_notes if " signer (" in note]
    return [
        _device_access(groups), special, _trackers(build.trackers), exposed,
        _capped("build-hygiene", "Build and transport security", sum(p for _, p in hygiene),
                [f"{text} (+{points})" for text, points in hygiene]),
        _capped("tampering", "Signs that the build was altered to deceive", sum(p for _, p in tampering),
                [f"{text} (+{points})" for text, points in tampering]),
    ]


def _ios(build: IosBuild) -> list[Factor]:
    groups: dict[PermissionGroup, list[str]] = {}
    for usage in build.usage_descriptions:
        if usage.group is not None:
            groups.setdefault(usage.group, []).append(usage.key)
    specials: list[str] = []
    points = 0
    seen: set[SpecialAccessKind] = set()
    for key, _value in build.entitlements:
        if key in _IOS_SPECIAL and _IOS_SPECIAL[key][0] not in seen:
            kind, value = _IOS_SPECIAL[key]
            seen.add(kind)
            points += value
            specials.append(f"{SPECIAL_LABELS[kind]} (+{value}): entitlement {key}")
    tracking = [u for u in build.usage_descriptions if u.key == "NSUserTrackingUsageDescription"]
    hygiene: list[tuple[str, int]] = []
    if build.ats.allows_arbitrary_loads:
        hygiene.append(("App Transport Security off (NSAllowsArbitraryLoads): cleartext HTTP allowed", 3))
    if build.ats.exception_domains:
        hygiene.append((f"insecure HTTP allowed to {', '.join(build.ats.exception_domains[:5])}", 1))
    if any(k == "get-task-allow" and v == "true" for k, v in build.entitlements):
        hygiene.append(("get-task-allow: a development build a debugger can attach to", 5))
    trackers = _trackers(build.sdks)
    if tracking:
        trackers = Factor(trackers.id, trackers.title, trackers.weight, min(trackers.weight,
                          trackers.contribution + 3),
                          (*trackers.evidence, "asks to track the user across apps and websites "
                                               "(NSUserTrackingUsageDescription) (+3)"))
    return [
        _device_access(groups),
        _capped("special-access", "Special access beyond runtime permissions", points, specials),
        trackers,
        _capped("build-hygiene", "Build and transport security", sum(p for _, p in hygiene),
                [f"{text} (+{value})" for text, value in hygiene]),
    ]


def _trackers(found: Sequence[TrackerEvidence]) -> Factor:
    evidence = []
    points = 0
    for tracker in found:
        value = 3 if _PROFILING & set(tracker.categories) else 2
        points += value
        evidence.append(f"{tracker.name} [{', '.join(tracker.categories) or 'uncategorised'}] (+{value}): "
                        f"{tracker.rule}")
    return _capped("trackers", "Trackers and third-party SDKs", points, evidence)


def _publisher(publisher: PublisherRisk, book: LawBook) -> list[Factor]:
    if publisher.family is None:
        return [_capped("publisher-unknown", "Publisher not in the catalogue", 5,
                        ["the app's identity is in no catalogued family: ownership and jurisdictions unknown (+5)"])]
    countries = sorted({country for country, _, _ in publisher.jurisdictions})
    weighted = [c for c in countries if book.weights.get(c, 0) > 0]
    evidence = []
    for country in weighted:
        entities = sorted({entity for c, entity, _ in publisher.jurisdictions if c == country})
        laws = "; ".join(f"{law.title} {law.citation}" for law in book.laws.get(country, ()))
        evidence.append(f"{book.names.get(country, country)} (+{book.weights[country]}), through "
                        f"{', '.join(entities)}: {laws}")
    points = max((book.weights[c] for c in weighted), default=0)  # the worst jurisdiction, not their sum
    if not weighted:
        evidence.append("no jurisdiction along the ownership chain has a law recorded in laws.json")
    return [_capped("publisher-jurisdiction", "Publisher subject to laws compelling cooperation with "
                    "intelligence services", points, evidence)]


def rate(score: int) -> Rating:
    return next(rating for floor, rating in RATING_THRESHOLDS if score >= floor)


def decide(rating: Rating, need: WorkNeed) -> Action:
    """The recommended action for work devices, from the rating and the work-related need."""
    if rating is Rating.CRITICAL:
        return Action.REQUIRE_REMOVAL  # named exemptions may follow for the unit with the need
    if rating is Rating.HIGH:
        return Action.ADVISE_AGAINST if need.needed else Action.REQUIRE_REMOVAL
    if rating is Rating.MEDIUM:
        return Action.ALLOW if need.needed else Action.ADVISE_AGAINST
    return Action.ALLOW


_ACTION_TEXT = {
    Action.ALLOW: "may be used on work devices",
    Action.ADVISE_AGAINST: "should not be used on work devices (advised against)",
    Action.REQUIRE_REMOVAL: "must be removed from work devices",
}


def summarise(app_name: str, factors: Sequence[Factor], score: int, rating: Rating, action: Action,
              need: WorkNeed, publisher: PublisherRisk) -> str:
    decisive = sorted((f for f in factors if f.contribution > 0), key=lambda f: (-f.contribution, f.id))[:3]
    reasons = "; ".join(f"{f.title.lower()} ({f.contribution} of {f.weight} points"
                        + (": " + ", ".join(e.split(" (+")[0] for e in f.evidence[:3]) if f.evidence else "")
                        + ")" for f in decisive)
    owner = ""
    if publisher.family is not None:
        owner = (f" It is published by {publisher.publisher_name}, ultimately controlled by "
                 f"{(publisher.controller_name or '').rstrip('.')}.")
        if publisher.claims:
            owner += (f" The vendor states: {publisher.claims[0].statement} This is recorded as the vendor's "
                      "claim, not verified.")
    if need.needed is None:
        need_text = " No work-related need was recorded."
    elif need.needed:
        who = f" for {need.who}" if need.who else ""
        need_text = f" A work-related need was recorded{who}"
        need_text += f" ({need.reason})." if need.reason else "."
        if action is Action.REQUIRE_REMOVAL:
            need_text += (" Those who need it should use it only on separate devices, under a named, time-limited "
                          "exemption.")
    else:
        need_text = " The app serves no work-related need."
    because = f" The decisive reasons are: {reasons}." if reasons else " No factor contributed to the risk."
    return (f"The assessment rates the risk of {app_name} on work devices as {rating.value.upper()} "
            f"({score} of 100 points).{because}{owner}{need_text} Recommendation: the app {_ACTION_TEXT[action]}.")
