"""What an iOS build (IPA) declares: identity, usage descriptions (the iOS analogue of permissions),
entitlements and team from the embedded provisioning profile, App Transport Security exceptions, URL schemes
and embedded frameworks matched to a small documented list of SDKs.
"""

from __future__ import annotations

import functools
import json
import plistlib
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

from appban.errors import InvalidInput
from appban.risk.archive import SafeArchive
from appban.risk.permissions import PermissionGroup
from appban.risk.result import AtsPolicy, IosBuild, UsageDescription
from appban.risk.trackers import TrackerEvidence

__all__ = ["USAGE_KEYS", "read_ios"]

MAX_PLIST_BYTES = 4 * 1024 * 1024
_APP = re.compile(r"Payload/([^/]+\.app)/")
_FRAMEWORK = re.compile(r"Payload/[^/]+\.app/Frameworks/([^/]+)\.framework/")

# NS*UsageDescription keys: what the app may ask for, with the Android group it corresponds to.
USAGE_KEYS: Mapping[str, tuple[PermissionGroup | None, str]] = {
    "NSCameraUsageDescription": (PermissionGroup.CAMERA, "camera"),
    "NSMicrophoneUsageDescription": (PermissionGroup.MICROPHONE, "microphone"),
    "NSLocationAlwaysUsageDescription": (PermissionGroup.LOCATION, "location, always (before iOS 11)"),
    "NSLocationAlwaysAndWhenInUseUsageDescription": (PermissionGroup.LOCATION, "location, always"),
    "NSLocationWhenInUseUsageDescription": (PermissionGroup.LOCATION, "location, while in use"),
    "NSContactsUsageDescription": (PermissionGroup.CONTACTS, "contacts"),
    "NSPhotoLibraryUsageDescription": (PermissionGroup.FILES, "photo library"),
    "NSPhotoLibraryAddUsageDescription": (PermissionGroup.FILES, "add to photo library"),
    "NSUserTrackingUsageDescription": (None, "tracking across apps and websites (IDFA)"),
    "NSBluetoothAlwaysUsageDescription": (PermissionGroup.NEARBY_DEVICES, "Bluetooth"),
    "NSBluetoothPeripheralUsageDescription": (PermissionGroup.NEARBY_DEVICES, "Bluetooth (before iOS 13)"),
    "NSLocalNetworkUsageDescription": (PermissionGroup.NEARBY_DEVICES, "local network"),
    "NSCalendarsUsageDescription": (PermissionGroup.CALENDAR, "calendars"),
    "NSCalendarsFullAccessUsageDescription": (PermissionGroup.CALENDAR, "calendars, full access"),
    "NSRemindersUsageDescription": (PermissionGroup.CALENDAR, "reminders"),
    "NSMotionUsageDescription": (PermissionGroup.PHYSICAL_ACTIVITY, "motion and fitness"),
    "NSHealthShareUsageDescription": (PermissionGroup.BODY_SENSORS, "health data, read"),
    "NSHealthUpdateUsageDescription": (PermissionGroup.BODY_SENSORS, "health data, write"),
    "NSSpeechRecognitionUsageDescription": (PermissionGroup.MICROPHONE, "speech recognition"),
    "NSFaceIDUsageDescription": (None, "Face ID"),
    "NSAppleMusicUsageDescription": (PermissionGroup.FILES, "media library"),
    "NSNearbyInteractionUsageDescription": (PermissionGroup.NEARBY_DEVICES, "nearby interaction (UWB)"),
}


def read_ios(archive: SafeArchive) -> IosBuild:
    apps = sorted({m.group(1) for n in archive.names() if (m := _APP.match(n))})
    if not apps:
        raise archive.fail(None, "has no Payload/*.app folder", "expected an IPA")
    if len(apps) > 1:
        raise archive.fail(None, f"holds {len(apps)} apps under Payload/", "an IPA holds exactly one app")
    folder = f"Payload/{apps[0]}/"
    info_name = folder + "Info.plist"
    if info_name not in archive:
        raise archive.fail(info_name, "is missing", "an IPA's app folder holds an Info.plist")
    info = _plist(archive.read(info_name, MAX_PLIST_BYTES), archive.source, info_name)
    if not isinstance(info, dict):
        raise archive.fail(info_name, "is not a dictionary")
    bundle_id = info.get("CFBundleIdentifier")
    if not isinstance(bundle_id, str) or not bundle_id:
        raise archive.fail(info_name, "has no CFBundleIdentifier")

    usage = tuple(UsageDescription(key, USAGE_KEYS[key][0], USAGE_KEYS[key][1], _text(info.get(key)))
                  for key in sorted(k for k in info if k in USAGE_KEYS))
    profile_name = folder + "embedded.mobileprovision"
    profile: dict[str, Any] = {}
    if profile_name in archive:
        profile = _profile(archive.read(profile_name, MAX_PLIST_BYTES), archive.source, profile_name)
    entitlements = profile.get("Entitlements") if isinstance(profile.get("Entitlements"), dict) else {}
    assert isinstance(entitlements, dict)
    team_ids = profile.get("TeamIdentifier")
    team_id = team_ids[0] if isinstance(team_ids, list) and team_ids and isinstance(team_ids[0], str) else None
    if team_id is None and isinstance(entitlements.get("com.apple.developer.team-identifier"), str):
        team_id = entitlements["com.apple.developer.team-identifier"]

    ats_dict = info.get("NSAppTransportSecurity")
    ats = ats_dict if isinstance(ats_dict, dict) else {}
    domains = ats.get("NSExceptionDomains")
    insecure = sorted(domain for domain, rules in (domains.items() if isinstance(domains, dict) else ())
                      if isinstance(rules, dict) and (rules.get("NSExceptionAllowsInsecureHTTPLoads") is True
                                                      or rules.get("NSTemporaryExceptionAllowsInsecureHTTPLoads")
                                                      is True))
    schemes = sorted({s for t in (info.get("CFBundleURLTypes") or []) if isinstance(t, dict)
                      for s in (t.get("CFBundleURLSchemes") or []) if isinstance(s, str)})
    frameworks = sorted({m.group(1) for n in archive.names() if (m := _FRAMEWORK.match(n))})
    return IosBuild(
        bundle_id=bundle_id,
        version=_opt(info.get("CFBundleShortVersionString")),
        build=_opt(info.get("CFBundleVersion")),
        minimum_os=_opt(info.get("MinimumOSVersion")),
        usage_descriptions=usage,
        entitlements=tuple((k, json.dumps(_jsonable(entitlements[k]), sort_keys=True, ensure_ascii=False))
                           for k in sorted(entitlements)),
        team_id=team_id,
        team_name=_opt(profile.get("TeamName")),
        ats=AtsPolicy(ats.get("NSAllowsArbitraryLoads") is True, tuple(insecure)),
        url_schemes=tuple(schemes),
        frameworks=tuple(frameworks),
        sdks=match_frameworks(frameworks),
    )


@functools.lru_cache(maxsize=1)
def _sdk_list() -> tuple[dict[str, Any], ...]:
    text = (resources.files("appban.risk") / "data" / "ios_sdks.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["sdks"])


def match_frameworks(frameworks: tuple[str, ...] | list[str]) -> tuple[TrackerEvidence, ...]:
    found: list[TrackerEvidence] = []
    for number, sdk in enumerate(_sdk_list(), start=1):
        matched = sorted(f for f in frameworks if f in sdk["frameworks"])
        if matched:
            found.append(TrackerEvidence(
                tracker_id=number, name=sdk["name"], categories=tuple(sdk["categories"]), website=sdk["website"],
                rule=f"ios-sdks:{sdk['name']} framework " + "|".join(sdk["frameworks"]),
                matched_prefixes=tuple(matched), classes=tuple(f"Frameworks/{f}.framework" for f in matched),
                class_count=len(matched), hosts=()))
    return tuple(found)


def _plist(data: bytes, source: str, entry: str) -> Any:
    binary = data.startswith(b"bplist00")
    if not binary and (b"<!ENTITY" in data or b"<!DOCTYPE plist [" in data):
        raise InvalidInput.at(source, f"entry '{entry}' declares XML entities, which property lists never do",
                              hint="the file is hostile or broken")
    try:
        return plistlib.loads(data, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)
    except RecursionError:
        raise InvalidInput.at(source, f"entry '{entry}' nests too deeply") from None
    except Exception as error:  # plistlib raises many kinds on hostile input: all refused
        detail = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise InvalidInput.at(source, f"entry '{entry}' is not a valid property list: {detail}",
                              hint="the IPA is damaged") from None


def _profile(data: bytes, source: str, entry: str) -> dict[str, Any]:
    # A provisioning profile is a CMS SignedData blob whose content is an XML plist: take the plist out of it
    # rather than parse the CMS, since only the content is wanted (the signature is Apple's, checked on device).
    start = data.find(b"<?xml")
    end = data.find(b"</plist>", start)
    if start < 0 or end < 0:
        raise InvalidInput.at(source, f"entry '{entry}' holds no property list",
                              hint="the provisioning profile is damaged")
    value = _plist(data[start:end + len(b"</plist>")], source, entry)
    return value if isinstance(value, dict) else {}


def _opt(value: object) -> str | None:
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    return value.strip()[:500] if isinstance(value, str) else ""


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
