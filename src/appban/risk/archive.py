"""Reading an untrusted zip archive (APK, split-APK bundle, IPA) with every size bounded.

An app under assessment is hostile by assumption. The central directory is checked before any entry is read:
entry count, total and per-entry uncompressed size, compression ratio (zip bombs), names that climb out of the
archive or are absolute, symbolic links (a macOS-made IPA may carry them; they point anywhere on the machine
that unpacks it), duplicate names (the installer and this reader could disagree on which one counts). Reading
an entry is then capped again, in chunks, so that a central directory that lies about sizes still cannot make
this code hold more than the cap in memory. Every refusal is one `InvalidInput` naming the file and the entry.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from appban.errors import InvalidInput

__all__ = ["ArchiveLimits", "SafeArchive"]

_MiB = 1024 * 1024
_CHUNK = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f]")
_RATIO_FLOOR = 1 * _MiB  # small entries may compress very well (blank images, padding): only big ones are judged


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """The caps an archive must stay under. The defaults hold every real app seen (large apps have ~15,000
    entries and ~500 MiB uncompressed) with a wide margin, and stop zip bombs long before memory runs out."""

    max_entries: int = 60_000
    max_total: int = 4096 * _MiB  # sum of declared uncompressed sizes
    max_entry: int = 512 * _MiB  # any one entry read into memory (a nested APK of a bundle is the biggest)
    max_ratio: int = 200  # uncompressed / compressed, for entries over 1 MiB


class SafeArchive:
    """A zip archive whose directory has passed the checks; entries are read with `read(name, cap)`."""

    def __init__(self, stream: BinaryIO, source: str, limits: ArchiveLimits | None = None) -> None:
        self.source = source
        self.limits = limits or ArchiveLimits()
        self._stream = stream
        try:
            self._zip = zipfile.ZipFile(stream)
            infos = self._zip.infolist()
        except zipfile.BadZipFile as error:
            raise InvalidInput.at(source, f"not a zip archive or truncated: {_first_line(error)}",
                                  hint="an APK, XAPK/APKS bundle or IPA is a zip file; download it again") from None
        except (OSError, ValueError, EOFError, NotImplementedError, OverflowError) as error:
            raise InvalidInput.at(source, f"unreadable zip archive: {_first_line(error)}",
                                  hint="the file is damaged or not an app archive") from None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._check(infos)

    def _check(self, infos: list[zipfile.ZipInfo]) -> None:
        limits = self.limits
        if len(infos) > limits.max_entries:
            raise self.fail(None, f"holds {len(infos)} entries, more than the {limits.max_entries} accepted",
                            "no real app has that many files; the archive is hostile or broken")
        total = 0
        for info in infos:
            name = info.filename
            if name in self._infos:
                raise self.fail(name, "appears twice in the archive",
                                "installers and readers may disagree on which copy counts; refused")
            _check_name(self, name)
            mode = (info.external_attr >> 16) & 0xFFFF
            if info.create_system == 3 and stat.S_ISLNK(mode):  # 3: Unix, where the high bits are st_mode
                raise self.fail(name, "is a symbolic link",
                                "an app archive holds files only; a link may point outside the archive")
            if info.flag_bits & 0x1:
                raise self.fail(name, "is encrypted", "app archives are not encrypted; refused")
            if info.file_size > limits.max_entry:
                raise self.fail(name, f"declares {info.file_size} bytes uncompressed, more than the "
                                f"{limits.max_entry // _MiB} MiB accepted for one entry", "possible zip bomb")
            if (info.file_size > _RATIO_FLOOR
                    and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
                raise self.fail(name, f"expands {info.file_size // max(info.compress_size, 1)} times "
                                f"(more than {limits.max_ratio}x)", "a zip bomb; refused")
            total += info.file_size
            if total > limits.max_total:
                raise self.fail(None, f"declares more than {limits.max_total // _MiB} MiB uncompressed in total",
                                "a zip bomb, or not an app archive; refused")
            self._infos[name] = info

    # --- reading --------------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Entry names in archive order (directories included)."""
        return list(self._infos)

    def size(self, name: str) -> int:
        return int(self._infos[name].file_size)

    def __contains__(self, name: object) -> bool:
        return name in self._infos

    def read(self, name: str, cap: int) -> bytes:
        """The entry's bytes; refused when it is, or turns out to be, larger than `cap`."""
        info = self._infos.get(name)
        if info is None:
            raise self.fail(name, "is missing from the archive")
        cap = min(cap, self.limits.max_entry)
        if info.file_size > cap:
            raise self.fail(name, f"is {info.file_size} bytes, more than the {cap} accepted for it",
                            "the entry is hostile or the app is far larger than any real one")
        out = io.BytesIO()
        try:
            with self._zip.open(info) as entry:
                # zipfile stops at the declared size, but the declared size is the attacker's: count anyway.
                while chunk := entry.read(_CHUNK):
                    if out.tell() + len(chunk) > cap:
                        raise self.fail(name, f"expands beyond the {cap} bytes accepted", "possible zip bomb")
                    out.write(chunk)
        except InvalidInput:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
                OverflowError, RuntimeError) as error:
            raise self.fail(name, f"cannot be read: {_first_line(error)}",
                            "the archive is truncated or damaged; download it again") from None
        return out.getvalue()

    def iter_matching(self, prefix: str, suffix: str) -> Iterator[str]:
        """Names that start with `prefix` and end with `suffix`, sorted."""
        yield from sorted(n for n in self._infos if n.startswith(prefix) and n.endswith(suffix))

    def leading_bytes(self) -> int:
        """How many bytes come before the first entry. Zero in a well-formed APK; a DEX placed there is run
        by Android 5.0-8.0 instead of classes.dex when only the v1 scheme signs the build (Janus)."""
        return min((int(i.header_offset) for i in self._infos.values()), default=0)

    def raw_stream(self) -> BinaryIO:
        """The underlying seekable stream (the APK signing block lives outside any entry)."""
        return self._stream

    def fail(self, entry: str | None, message: str, hint: str | None = None) -> InvalidInput:
        where = f"entry '{_printable(entry)}' " if entry is not None else ""
        return InvalidInput.at(self.source, f"{where}{message}", hint=hint)


def _check_name(archive: SafeArchive, name: str) -> None:
    if not name:
        raise archive.fail(name, "has an empty name", "refused")
    if _CONTROL.search(name):
        raise archive.fail(name, "has control characters in its name", "refused")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise archive.fail(name, "has an absolute path", "an archive entry must stay inside the archive")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise archive.fail(name, "climbs out of the archive (path traversal)",
                           "an archive entry must stay inside the archive")


def _printable(name: str | None) -> str:
    text = "" if name is None else name
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
