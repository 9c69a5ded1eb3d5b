"""One entry point: an app archive's bytes in, an `Assessment` out. Pure apart from reading the stream given."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.model import Platform
from appban.risk.android import MANIFEST, read_android
from appban.risk.archive import ArchiveLimits, SafeArchive
from appban.risk.ios import read_ios
from appban.risk.publisher import LawBook, default_law_book, publisher_risk
from appban.risk.result import SCHEMA, Assessment, FileInfo, WorkNeed
from appban.risk.score import decide, factors_for, rate, summarise
from appban.risk.trackers import TrackerSignatures, default_signatures

__all__ = ["assess"]


def assess(stream: BinaryIO, name: str, catalog: Catalog, *, work_need: WorkNeed | None = None,
           assessed_at: str | None = None, signatures: TrackerSignatures | None = None,
           law_book: LawBook | None = None, limits: ArchiveLimits | None = None) -> Assessment:
    """Assess the APK, split-APK bundle or IPA in `stream` (seekable); `name` names it in errors and the report.

    `assessed_at` is copied into the report as given: the report holds no clock of its own, so the same input
    gives byte-identical JSON.
    """
    need = work_need or WorkNeed()
    book = law_book or default_law_book()
    file = FileInfo(name=name, size=_size(stream), sha256=_sha256(stream))
    archive = SafeArchive(stream, name, limits)
    android = ios = None
    if MANIFEST in archive or (not any(n.startswith("Payload/") for n in archive.names())
                               and any(n.lower().endswith(".apk") for n in archive.names())):
        android = read_android(archive, signatures or default_signatures())
        platform, app_id, version = Platform.ANDROID, android.package, android.version_name
    elif any(n.startswith("Payload/") for n in archive.names()):
        ios = read_ios(archive)
        platform, app_id, version = Platform.IOS, ios.bundle_id, ios.version
    else:
        raise InvalidInput.at(name, "is neither an APK, a split-APK bundle nor an IPA",
                              hint=f"an APK holds {MANIFEST}; an IPA holds Payload/NAME.app/")
    publisher = publisher_risk(catalog, platform, app_id, book)
    factors = factors_for(android, ios, publisher, book)
    score = min(100, sum(f.contribution for f in factors))
    rating = rate(score)
    action = decide(rating, need)
    label = publisher.family_name or app_id
    app_name = f"{label} {version}" if version else label
    return Assessment(
        schema=SCHEMA, file=file, platform=str(platform), app_id=app_id, version=version, android=android, ios=ios,
        publisher=publisher, work_need=need, factors=factors, score=score, rating=rating, action=action,
        summary=summarise(app_name, factors, score, rating, action, need, publisher), assessed_at=assessed_at)


def _size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _sha256(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()
