"""Class names and URLs from a DEX file, read from its header and tables directly, every offset checked.

Only two things are needed from the code: the names of the classes it defines (tracker signatures are class
name prefixes) and the URLs its string table holds. Both come from fixed-size tables the header points to, so
this is a bounded linear read, not the disassembly `AnalyzeAPK` does.
"""

from __future__ import annotations

import array
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass

from appban.errors import InvalidInput

__all__ = ["MAX_DEX_BYTES", "DexTables", "read_dex"]

MAX_DEX_BYTES = 128 * 1024 * 1024
_MAGIC = re.compile(rb"dex\n0[0-9][0-9]\x00")
_HEADER = struct.Struct("<8s4x20sII4xII4xIIIIIIIIIIII")
# URLs are matched on the raw bytes: DEX strings are NUL-terminated MUTF-8, so a URL ends at the first byte
# outside printable ASCII, and no string needs decoding.
_MAX_STRING = 65536 * 3 + 1  # a string_data_item holds at most 65535 UTF-16 units, 3 bytes each in MUTF-8
assert array.array("I").itemsize == 4
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

    # The three tables as arrays of little-endian uint32: one C-level copy each instead of a struct call per
    # class (a 60,000-class DEX went from 0.7 s to well under 0.1 s).
    type_ids = _u32(data, type_ids_off, type_ids_size)
    string_ids = _u32(data, string_ids_off, string_ids_size)
    class_types = _u32(data, class_defs_off, 8 * class_defs_size)[0::8]  # class_idx, first of 8 fields
    classes: set[str] = set()
    length = len(data)
    for index, type_index in enumerate(class_types):
        if type_index >= type_ids_size:
            raise fail(f"class_defs[{index}] names type {type_index}, beyond the {type_ids_size} types")
        string_index = type_ids[type_index]
        if string_index >= string_ids_size:
            raise fail(f"type_ids[{type_index}] names string {string_index}, beyond the {string_ids_size} strings")
        position = string_ids[string_index]
        # string_data_item: a uleb128 length (1-5 bytes, high bit = more), then MUTF-8 bytes ending in NUL.
        for _ in range(5):
            if position >= length:
                raise fail("has a string outside the file")
            more = data[position] & 0x80
            position += 1
            if not more:
                break
        end = data.find(b"\x00", position, position + _MAX_STRING)
        if end < 0:
            raise fail("has an unterminated string")
        if data[position] == 0x4C and data[end - 1] == 0x3B:  # "L...;": a class, not a primitive or array
            classes.add(data[position + 1:end - 1].decode("utf-8", errors="replace").replace("/", "."))

    urls: set[str] = set()
    # Find "://" with bytes.find (fast), then match the scheme before it and the rest after it: one regex
    # scanning every byte of a large DEX for an alternation is several times slower.
    position = data.find(b"://")
    while position >= 0 and len(urls) < max_urls:
        start = position
        while start > 0 and position - start < 5 and 0x61 <= data[start - 1] <= 0x7A:
            start -= 1
        for candidate in range(start, position):  # "xhttp://" holds "http://": try each start, longest first
            match = _URL.match(data, candidate)
            if match is not None:
                urls.add(match.group().decode("ascii"))
                break
        position = data.find(b"://", position + 3)
    return DexTables(tuple(sorted(classes)), tuple(sorted(urls)))


def _check_table(fail: Callable[[str], InvalidInput], length: int, name: str, offset: int, count: int,
                 item: int) -> None:
    if count and (offset <= 0 or offset + count * item > length):
        raise fail(f"has a {name} table outside the file")


def _u32(data: bytes, offset: int, count: int) -> array.array[int]:
    table = array.array("I")
    table.frombytes(data[offset:offset + 4 * count])
    if sys.byteorder == "big":
        table.byteswap()  # DEX is little-endian
    return table
