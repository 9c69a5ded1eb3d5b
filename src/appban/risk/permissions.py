"""Android permissions: their AOSP protection level, the plain-language group a person understands, and the
special access that never shows as "dangerous" but gives an app more power than any runtime permission.

Protection levels come from the AOSP permission tables androguard ships (one JSON file per API level,
extracted from the platform's manifests), read for the app's target SDK: that is the level the platform
enforces for this build.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType

__all__ = [
    "PermissionGroup",
    "ProtectionTable",
    "SpecialAccessKind",
    "group_of",
    "protection_table",
]


class PermissionGroup(StrEnum):
    LOCATION = "location"
    MICROPHONE = "microphone"
    CAMERA = "camera"
    CONTACTS = "contacts"
    SMS = "sms"
    CALL_LOG = "call-log"
    FILES = "files"
    PHONE_IDENTITY = "phone-identity"
    NEARBY_DEVICES = "nearby-devices"
    ACCOUNTS = "accounts"
    CALENDAR = "calendar"
    BODY_SENSORS = "body-sensors"
    PHYSICAL_ACTIVITY = "physical-activity"
    OTHER = "other"


GROUP_LABELS: Mapping[PermissionGroup, str] = MappingProxyType({
    PermissionGroup.LOCATION: "where the device is",
    PermissionGroup.MICROPHONE: "the microphone",
    PermissionGroup.CAMERA: "the camera",
    PermissionGroup.CONTACTS: "the address book",
    PermissionGroup.SMS: "text messages",
    PermissionGroup.CALL_LOG: "the call history",
    PermissionGroup.FILES: "files, photos and videos",
    PermissionGroup.PHONE_IDENTITY: "the phone's number, identity and calls",
    PermissionGroup.NEARBY_DEVICES: "nearby devices (Bluetooth, Wi-Fi, UWB)",
    PermissionGroup.ACCOUNTS: "the accounts on the device",
    PermissionGroup.CALENDAR: "the calendar",
    PermissionGroup.BODY_SENSORS: "body sensors (heart rate)",
    PermissionGroup.PHYSICAL_ACTIVITY: "physical activity",
    PermissionGroup.OTHER: "other",
})

_P = "android.permission."
_GROUPS: Mapping[str, PermissionGroup] = MappingProxyType({
    **{_P + n: PermissionGroup.LOCATION for n in (
        "ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION", "ACCESS_BACKGROUND_LOCATION", "ACCESS_MEDIA_LOCATION")},
    _P + "RECORD_AUDIO": PermissionGroup.MICROPHONE,
    _P + "CAMERA": PermissionGroup.CAMERA,
    **{_P + n: PermissionGroup.CONTACTS for n in ("READ_CONTACTS", "WRITE_CONTACTS")},
    **{_P + n: PermissionGroup.SMS for n in (
        "SEND_SMS", "RECEIVE_SMS", "READ_SMS", "RECEIVE_WAP_PUSH", "RECEIVE_MMS", "READ_CELL_BROADCASTS")},
    **{_P + n: PermissionGroup.CALL_LOG for n in ("READ_CALL_LOG", "WRITE_CALL_LOG", "PROCESS_OUTGOING_CALLS")},
    **{_P + n: PermissionGroup.FILES for n in (
        "READ_EXTERNAL_STORAGE", "WRITE_EXTERNAL_STORAGE", "MANAGE_EXTERNAL_STORAGE", "READ_MEDIA_IMAGES",
        "READ_MEDIA_VIDEO", "READ_MEDIA_AUDIO", "READ_MEDIA_VISUAL_USER_SELECTED")},
    **{_P + n: PermissionGroup.PHONE_IDENTITY for n in (
        "READ_PHONE_STATE", "READ_PHONE_NUMBERS", "CALL_PHONE", "ANSWER_PHONE_CALLS", "ADD_VOICEMAIL", "USE_SIP",
        "READ_PRIVILEGED_PHONE_STATE", "ACCEPT_HANDOVER")},
    **{_P + n: PermissionGroup.NEARBY_DEVICES for n in (
        "BLUETOOTH_SCAN", "BLUETOOTH_CONNECT", "BLUETOOTH_ADVERTISE", "NEARBY_WIFI_DEVICES", "UWB_RANGING",
        "BLUETOOTH", "BLUETOOTH_ADMIN")},
    **{_P + n: PermissionGroup.ACCOUNTS for n in (
        "GET_ACCOUNTS", "MANAGE_ACCOUNTS", "USE_CREDENTIALS", "AUTHENTICATE_ACCOUNTS", "READ_PROFILE")},
    **{_P + n: PermissionGroup.CALENDAR for n in ("READ_CALENDAR", "WRITE_CALENDAR")},
    **{_P + n: PermissionGroup.BODY_SENSORS for n in ("BODY_SENSORS", "BODY_SENSORS_BACKGROUND")},
    _P + "ACTIVITY_RECOGNITION": PermissionGroup.PHYSICAL_ACTIVITY,
})


def group_of(permission: str) -> PermissionGroup:
    return _GROUPS.get(permission, PermissionGroup.OTHER)


class SpecialAccessKind(StrEnum):
    ACCESSIBILITY = "accessibility-service"
    DEVICE_ADMIN = "device-admin"
    NOTIFICATION_LISTENER = "notification-listener"
    OVERLAY = "overlay"
    QUERY_ALL_PACKAGES = "query-all-packages"
    MANAGE_EXTERNAL_STORAGE = "manage-external-storage"
    REQUEST_INSTALL_PACKAGES = "request-install-packages"
    VPN_SERVICE = "vpn-service"
    INPUT_METHOD = "input-method"
    USAGE_STATS = "usage-stats"


SPECIAL_LABELS: Mapping[SpecialAccessKind, str] = MappingProxyType({
    SpecialAccessKind.ACCESSIBILITY: "accessibility service: can read the screen and act as the user in every app",
    SpecialAccessKind.DEVICE_ADMIN: "device administrator: can lock or wipe the device and resist removal",
    SpecialAccessKind.NOTIFICATION_LISTENER: "notification listener: reads every notification, including "
                                             "messages and one-time codes",
    SpecialAccessKind.OVERLAY: "draws over other apps (overlay): can imitate other apps' screens",
    SpecialAccessKind.QUERY_ALL_PACKAGES: "sees every app installed on the device",
    SpecialAccessKind.MANAGE_EXTERNAL_STORAGE: "reads and writes all shared files",
    SpecialAccessKind.REQUEST_INSTALL_PACKAGES: "can install other apps",
    SpecialAccessKind.VPN_SERVICE: "VPN service: can route and see the device's network traffic",
    SpecialAccessKind.INPUT_METHOD: "keyboard (input method): sees everything typed",
    SpecialAccessKind.USAGE_STATS: "usage access: sees which apps are used and when",
})

# uses-permission names that grant special access on their own.
SPECIAL_PERMISSIONS: Mapping[str, SpecialAccessKind] = MappingProxyType({
    _P + "SYSTEM_ALERT_WINDOW": SpecialAccessKind.OVERLAY,
    _P + "QUERY_ALL_PACKAGES": SpecialAccessKind.QUERY_ALL_PACKAGES,
    _P + "MANAGE_EXTERNAL_STORAGE": SpecialAccessKind.MANAGE_EXTERNAL_STORAGE,
    _P + "REQUEST_INSTALL_PACKAGES": SpecialAccessKind.REQUEST_INSTALL_PACKAGES,
    _P + "PACKAGE_USAGE_STATS": SpecialAccessKind.USAGE_STATS,
})

# A component protected by one of these binding permissions, or answering one of these actions, is the
# system-facing end of a special access the user grants in Settings.
SPECIAL_BINDINGS: Mapping[str, SpecialAccessKind] = MappingProxyType({
    _P + "BIND_ACCESSIBILITY_SERVICE": SpecialAccessKind.ACCESSIBILITY,
    _P + "BIND_DEVICE_ADMIN": SpecialAccessKind.DEVICE_ADMIN,
    _P + "BIND_NOTIFICATION_LISTENER_SERVICE": SpecialAccessKind.NOTIFICATION_LISTENER,
    _P + "BIND_VPN_SERVICE": SpecialAccessKind.VPN_SERVICE,
    _P + "BIND_INPUT_METHOD": SpecialAccessKind.INPUT_METHOD,
})
SPECIAL_ACTIONS: Mapping[str, SpecialAccessKind] = MappingProxyType({
    "android.accessibilityservice.AccessibilityService": SpecialAccessKind.ACCESSIBILITY,
    "android.app.action.DEVICE_ADMIN_ENABLED": SpecialAccessKind.DEVICE_ADMIN,
    "android.service.notification.NotificationListenerService": SpecialAccessKind.NOTIFICATION_LISTENER,
    "android.net.VpnService": SpecialAccessKind.VPN_SERVICE,
    "android.view.InputMethod": SpecialAccessKind.INPUT_METHOD,
})


@dataclass(frozen=True, slots=True)
class ProtectionTable:
    """AOSP protection levels at one API level (the nearest table at or below the one asked for)."""

    api_level: int
    levels: Mapping[str, str]  # permission -> protectionLevel as AOSP writes it ("signature|appop", ...)

    def protection(self, permission: str) -> str | None:
        return self.levels.get(permission)


_PACKAGE = "androguard.core.api_specific_resources"


@functools.lru_cache(maxsize=8)
def protection_table(api_level: int) -> ProtectionTable:
    folder = resources.files(_PACKAGE) / "aosp_permissions"
    available = sorted(int(entry.name[len("permissions_"):-len(".json")]) for entry in folder.iterdir()
                       if entry.name.startswith("permissions_") and entry.name.endswith(".json"))
    lower = [level for level in available if level <= api_level]
    chosen = max(lower) if lower else min(available)
    document = json.loads((folder / f"permissions_{chosen}.json").read_text(encoding="utf-8"))
    levels = {name: str(info.get("protectionLevel", "")) for name, info in document["permissions"].items()}
    return ProtectionTable(chosen, MappingProxyType(levels))
