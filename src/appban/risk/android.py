"""What an Android build asks for and carries: manifest, permissions, special access, exported components,
signer, native libraries, URLs and trackers. A single APK, or a bundle of split APKs (XAPK, APKS: a zip of
base.apk and config splits), read entry by entry without `AnalyzeAPK`.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from appban.errors import InvalidInput
from appban.risk.archive import SafeArchive
from appban.risk.axml import MAX_MANIFEST_BYTES, Element, parse_axml
from appban.risk.dex import MAX_DEX_BYTES, read_dex
from appban.risk.permissions import (
    SPECIAL_ACTIONS,
    SPECIAL_BINDINGS,
    SPECIAL_LABELS,
    SPECIAL_PERMISSIONS,
    SpecialAccessKind,
    group_of,
    protection_table,
)
from appban.risk.result import AndroidBuild, Component, Permission, SpecialAccess
from appban.risk.signing import Certificate, certificate_info, read_signing_block, v1_signers
from appban.risk.trackers import TrackerSignatures

__all__ = ["MAX_URLS", "read_android"]

MANIFEST = "AndroidManifest.xml"
MAX_URLS = 2000
MAX_SPLITS = 64
_DEX = re.compile(r"classes(\d*)\.dex")
_NATIVE = re.compile(r"lib/[^/]+/[^/]+\.so")
_V1_BLOCK = re.compile(r"META-INF/[^/]+\.(RSA|DSA|EC)", re.IGNORECASE)
_PERMISSION_ELEMENTS = ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m")
_COMPONENTS = ("activity", "activity-alias", "service", "receiver", "provider")
_CUSTOM_LEVELS = {0: "normal", 1: "dangerous", 2: "signature", 3: "signatureOrSystem"}
_ANDROID_12 = 31
_SCHEMES = ("v1", "v2", "v3", "v3.1")
_DEX_MAGIC = b"dex\n"


@dataclass(slots=True)
class _Part:
    """One APK of a build (the only one, or one split of a bundle)."""

    name: str
    archive: SafeArchive
    manifest: Element


def read_android(archive: SafeArchive, signatures: TrackerSignatures) -> AndroidBuild:
    parts = _parts(archive)
    base = next((p for p in parts if not p.manifest.get("split")), None)
    if base is None:
        raise archive.fail(None, "holds split APKs but no base APK", "assess the complete bundle")
    root = base.manifest
    package = root.get("package")
    if not package:
        raise InvalidInput.at(archive.source, f"entry '{_entry(base)}' has no package name",
                              hint="not an Android app manifest")
    uses_sdk = next(iter(root.find_all("uses-sdk")), Element("uses-sdk"))
    min_sdk = _int(uses_sdk.get("minSdkVersion"), 1)
    target_sdk = _int(uses_sdk.get("targetSdkVersion"), min_sdk)
    table = protection_table(target_sdk)

    declared = {e.get("name"): e.get("protectionLevel") for e in root.find_all("permission") if e.get("name")}
    manifest_notes: list[str] = []
    permissions: dict[str, Permission] = {}
    specials: set[SpecialAccess] = set()
    for part in parts:
        for element in part.manifest.children:
            if element.tag not in _PERMISSION_ELEMENTS:
                continue
            name = element.get("name")
            if not name:
                continue
            max_sdk = _int_or_none(element.get("maxSdkVersion"))
            if "name" in element.by_resource_id:
                manifest_notes.append(f'<{element.tag}> "{name}" names its android:name in another namespace '
                                      "than the Android one: Android grants it (it reads attributes by resource "
                                      "ID), tools built on androguard do not list it")
            if name in permissions:
                # Asked for twice: the widest request is what the platform grants (no maxSdkVersion wins).
                earlier = permissions[name]
                if earlier.max_sdk is not None and (max_sdk is None or max_sdk > earlier.max_sdk):
                    permissions[name] = dataclasses.replace(earlier, max_sdk=max_sdk)
                continue
            protection = table.protection(name)
            if protection is None:
                protection = ("custom:" + _custom_level(declared[name])) if name in declared else "unknown"
            permissions[name] = Permission(name, protection, protection.split("|")[0].split(":")[0],
                                           group_of(name), element.tag, max_sdk)
            kind = SPECIAL_PERMISSIONS.get(name)
            if kind is not None:
                specials.add(SpecialAccess(kind, SPECIAL_LABELS[kind], f'<{element.tag} android:name="{name}">'))

    application = next(iter(root.find_all("application")), Element("application"))
    exported: list[Component] = []
    for part in parts:
        for app in part.manifest.find_all("application"):
            for component in _components(app, package, target_sdk):
                exported.extend(component[0])
                specials.update(component[1])

    nsc = application.get("networkSecurityConfig")
    cleartext_attr = application.get("usesCleartextTraffic")
    cleartext = cleartext_attr == "true" if cleartext_attr is not None else (nsc is None and target_sdk < 28)

    classes: set[str] = set()
    urls: set[str] = set()
    truncated = False
    native: set[str] = set()
    prepended = base.archive.leading_bytes()
    prepended_dex = False
    for part in parts:
        native.update(n for n in part.archive.names() if _NATIVE.fullmatch(n))
        code = [(f"{_prefix(part)}{entry}", part.archive.read(entry, MAX_DEX_BYTES))
                for entry in sorted((n for n in part.archive.names() if _DEX.fullmatch(n)), key=_dex_order)]
        if part is base and prepended:
            head = _leading(base.archive, min(prepended, MAX_DEX_BYTES))
            if head.startswith(_DEX_MAGIC):
                # Janus: the code Android 5.0-8.0 would run is this one, so its classes and URLs count too.
                prepended_dex = True
                code.append(("(DEX before the first zip entry)", head))
        for entry, data in code:
            tables = read_dex(data, archive.source, entry, max_urls=MAX_URLS)
            classes.update(tables.classes)
            for url in tables.urls:
                if len(urls) >= MAX_URLS:
                    truncated = True
                    break
                urls.add(url)
    hosts = sorted({h for h in (_host(u) for u in urls) if h})
    schemes, certificates, signing_notes = _signing(base)
    sorted_classes = sorted(classes)
    return AndroidBuild(
        package=package,
        version_code=root.get("versionCode"),
        version_name=root.get("versionName"),
        min_sdk=min_sdk,
        target_sdk=target_sdk,
        protection_table_api=table.api_level,
        permissions=tuple(sorted(permissions.values(), key=lambda p: p.name)),
        special_access=tuple(sorted(specials, key=lambda s: (s.kind, s.evidence))),
        exported=tuple(sorted(set(exported), key=lambda c: (c.kind, c.name))),
        debuggable=application.get("debuggable") == "true",
        allow_backup=application.get("allowBackup", "true") == "true",  # Android's default is true
        cleartext_traffic=cleartext,
        network_security_config=nsc,
        signature_schemes=schemes,
        certificates=certificates,
        native_libraries=tuple(sorted(native)),
        hosts=tuple(hosts),
        urls=tuple(sorted(urls)),
        urls_truncated=truncated,
        classes_scanned=len(sorted_classes),
        trackers=signatures.match(sorted_classes, hosts),
        splits=tuple(p.name for p in parts) if len(parts) > 1 or parts[0].name else (),
        signing_notes=signing_notes,
        prepended_bytes=prepended,
        prepended_dex=prepended_dex,
        manifest_notes=tuple(manifest_notes),
    )


def _parts(archive: SafeArchive) -> list[_Part]:
    if MANIFEST in archive:
        return [_Part("", archive, parse_axml(archive.read(MANIFEST, MAX_MANIFEST_BYTES), archive.source, MANIFEST))]
    nested = [n for n in archive.names() if n.lower().endswith(".apk") and not n.endswith("/")]
    if not nested:
        raise archive.fail(None, f"has no {MANIFEST} and no APK inside",
                           "expected an APK, or an XAPK/APKS bundle of split APKs")
    if len(nested) > MAX_SPLITS:
        raise archive.fail(None, f"bundles {len(nested)} APKs, more than the {MAX_SPLITS} accepted")
    parts: list[_Part] = []
    for name in sorted(nested):
        inner = SafeArchive(io.BytesIO(archive.read(name, archive.limits.max_entry)), f"{archive.source}!{name}",
                            archive.limits)
        if MANIFEST not in inner:
            raise inner.fail(MANIFEST, "is missing from a bundled APK")
        manifest = parse_axml(inner.read(MANIFEST, MAX_MANIFEST_BYTES), inner.source, MANIFEST)
        parts.append(_Part(name, inner, manifest))
    return parts


def _components(app: Element, package: str, target_sdk: int
                ) -> Iterable[tuple[list[Component], list[SpecialAccess]]]:
    for element in app.children:
        if element.tag not in _COMPONENTS:
            continue
        name = _class_name(element.get("name") or "", package)
        permission = element.get("permission")
        filters = element.find_all("intent-filter")
        actions = sorted({a.get("name") or "" for f in filters for a in f.find_all("action")} - {""})
        flag = element.get("exported")
        reason: str | None = None
        if flag == "true":
            reason = "exported=true"
        elif flag is None and filters and target_sdk < _ANDROID_12:
            reason = "intent-filter without exported= (exported by default before Android 12)"
        elif flag is None and element.tag == "provider" and target_sdk <= 16:
            reason = "provider without exported= (exported by default up to Android 4.1)"
        if element.tag == "provider":
            permission = permission or element.get("readPermission") or element.get("writePermission")
        components = [Component(element.tag, name, reason, permission)] if reason else []
        specials: list[SpecialAccess] = []
        kind: SpecialAccessKind | None
        if permission and (kind := SPECIAL_BINDINGS.get(permission)) is not None:
            specials.append(SpecialAccess(kind, SPECIAL_LABELS[kind],
                                          f'<{element.tag} android:name="{name}" android:permission="{permission}">'))
        for action in actions:
            if (kind := SPECIAL_ACTIONS.get(action)) is not None:
                specials.append(SpecialAccess(kind, SPECIAL_LABELS[kind],
                                              f'<{element.tag} android:name="{name}"> intent-filter action "{action}"'))
        yield components, specials


def _signing(base: _Part) -> tuple[tuple[str, ...], tuple[Certificate, ...], tuple[str, ...]]:
    """Schemes, distinct signer certificates (each with the schemes that name it) and notes for the reviewer."""
    found = read_signing_block(base.archive.raw_stream())
    notes: list[str] = []
    names = base.archive.names()
    v1: list[bytes] = []
    for name in names:
        if not _V1_BLOCK.fullmatch(name):
            continue
        signature_file = name.rsplit(".", 1)[0] + ".SF"
        signers = v1_signers(base.archive.read(name, 1024 * 1024),
                             base.archive.read(signature_file, 16 * 1024 * 1024) if signature_file in base.archive
                             else None)
        v1.extend(signers.certificates)
        notes.extend(f"v1 block {name}: {problem}" for problem in signers.problems)
    if v1:
        found["v1"] = v1
    order = ("v3.1", "v3", "v2", "v1")
    infos: dict[str, Certificate] = {}
    schemes_of: dict[str, list[str]] = {}
    for scheme in order:
        for der in found.get(scheme, ()):
            info = certificate_info(der)
            if info is not None:
                infos.setdefault(info.sha256, info)
                if scheme not in schemes_of.setdefault(info.sha256, []):
                    schemes_of[info.sha256].append(scheme)
    certificates = tuple(dataclasses.replace(info, schemes=tuple(sorted(schemes_of[key], key=_SCHEMES.index)))
                         for key, info in infos.items())

    def signer_names(scheme: str) -> set[str]:
        return {c.sha256 for c in certificates if scheme in c.schemes}

    # v1 and v2 sign with the same key even across a key rotation (v3 carries the rotation), so a v1 signer
    # that is not the v2 (else v3) signer means the publisher a device sees depends on its Android version.
    modern = "v2" if "v2" in found else "v3" if "v3" in found else None
    if v1 and modern and signer_names("v1") != signer_names(modern):
        old = ", ".join(c.subject for c in certificates if "v1" in c.schemes)
        new = ", ".join(c.subject for c in certificates if modern in c.schemes)
        notes.append(f"the v1 signer ({old}) is not the {modern} signer ({new}): Android 7 and later trust the "
                     f"{modern} signer, older versions the v1 signer (a build made to pass for another publisher)")
    schemes = tuple(s for s in _SCHEMES if found.get(s))
    return schemes, certificates, tuple(notes)


def _leading(archive: SafeArchive, length: int) -> bytes:
    stream = archive.raw_stream()
    stream.seek(0)
    return stream.read(length)


def _class_name(name: str, package: str) -> str:
    if name.startswith("."):
        return package + name
    if name and "." not in name:
        return f"{package}.{name}"
    return name


def _custom_level(value: str | None) -> str:
    number = _int_or_none(value)
    return _CUSTOM_LEVELS.get((number or 0) & 0xF, "normal") if value is not None else "normal"


def _int(value: str | None, default: int) -> int:
    number = _int_or_none(value)
    return default if number is None else number


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None  # a codename ("Q") or a resource reference: unknown


def _dex_order(name: str) -> int:
    match = _DEX.fullmatch(name)
    return int(match.group(1) or 1) if match else 0


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host and "." in host else None


def _prefix(part: _Part) -> str:
    return f"{part.name}!" if part.name else ""


def _entry(part: _Part) -> str:
    return f"{_prefix(part)}{MANIFEST}"
