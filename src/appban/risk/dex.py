"""Class names and URLs from a DEX file, read from its header and tables directly, every offset checked.

Only two things are needed from the code: the names of the classes it defines (tracker signatures are class
name prefixes) and the URLs its string table holds. Both come from fixed-size tables the header points to, so
this is a bounded linear read, not the disassembly `AnalyzeAPK` does.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from appban.errors import InvalidInput

__all__ = ["MAX_DEX_BYTES", "DexTables", "read_dex"]

MAX_DEX_BYTES = 128 * 1024 * 1024
_MAGIC = re.compile(rb"dex\n0[0-9][0-9]\x00")
_HEADER = struct.Struct("<8s4x20sII4xII4xIIIIIIIIIIII")
# URLs are matched on the raw bytes: DEX strings are NUL-terminated MUTF-8, so a URL ends at the first byte
# outside printable ASCII. One pass of a compiled regex over the data section instead of decoding every string.
_URL = re.compile(rb"(?:https?|wss?|ftp)://[A-Za-z0-9.\-_~%]+(?::[0-9]{1,5})?(?:/[\x21-\x7e]*)?")


@dataclass(frozen=True, slots=True)
class DexTables:
    classes: tuple[str, ...]  # defined classes, dotted Java names (com.example.Foo), sorted
    urls: tuple[str, ...]  # distinct, sorted, at most the cap given


def read_dex(data: bytes, source: str, entry: str, max_urls: int = 5000) -> DexTables:
    def fail(message: str) -> InvalidInput:
        return InvalidInput.at(source, f"entry '{entry}' {message}",
                               hint="the code file is malformed; the app is damaged or built to defeat analysis")

    if len(data) > MAX_DEX_BYTES:
        raise fail(f"is larger than the {MAX_DEX_BYTES // (1024 * 1024)} MiB accepted for one DEX file")
    if len(data) < _HEADER.size or not _MAGIC.fullmatch(data[:8]):
        raise fail("is not a DEX file (bad magic)")
    (_magic, _sig, _file_size, header_size, _link_size, _link_off, string_ids_size, string_ids_off,
     type_ids_size, type_ids_off, _protos_size, _protos_off, _fields_size, _fields_off, _methods_size,
     _methods_off, class_defs_size, class_defs_off) = _HEADER.unpack_from(data)
    if header_size < 0x70:
        raise fail("has a header shorter than 0x70 bytes")
    _check_table(fail, len(data), "string_ids", string_ids_off, string_ids_size, 4)
    _check_table(fail, len(data), "type_ids", type_ids_off, type_ids_size, 4)
    _check_table(fail, len(data), "class_defs", class_defs_off, class_defs_size, 32)

    classes: set[str] = set()
    for index in range(class_defs_size):
        (type_index,) = struct.unpack_from("<I", data, class_defs_off + 32 * index)
        if type_index >= type_ids_size:
            raise fail(f"class_defs[{index}] names type {type_index}, beyond the {type_ids_size} types")
        (string_index,) = struct.unpack_from("<I", data, type_ids_off + 4 * type_index)
        if string_index >= string_ids_size:
            raise fail(f"type_ids[{type_index}] names string {string_index}, beyond the {string_ids_size} strings")
        (offset,) = struct.unpack_from("<I", data, string_ids_off + 4 * string_index)
        descriptor = _string_at(data, offset, fail)
        if descriptor.startswith("L") and descriptor.endswith(";"):
            classes.add(descriptor[1:-1].replace("/", "."))

    urls: set[str] = set()
    for match in _URL.finditer(data):
        urls.add(match.group().decode("ascii"))
        if len(urls) >= max_urls:
            break
    return DexTables(tuple(sorted(classes)), tuple(sorted(urls)))


def _check_table(fail: Callable[[str], InvalidInput], length: int, name: str, offset: int, count: int,
                 item: int) -> None:
    if count and (offset <= 0 or offset + count * item > length):
        raise fail(f"has a {name} table outside the file")


def _string_at(data: bytes, offset: int, fail: Callable[[str], InvalidInput]) -> str:
    # string_data_item: uleb128 length in UTF-16 units, then MUTF-8 bytes ending in NUL.
    position = offset
    for _ in range(5):
        if position >= len(data):
            raise fail("has a string outside the file")
        byte = data[position]
        position += 1
        if not byte & 0x80:
            break
    end = data.find(b"\x00", position, position + 65536 * 3 + 1)
    if end < 0:
        raise fail("has an unterminated string")
    return data[position:end].decode("utf-8", errors="replace")
