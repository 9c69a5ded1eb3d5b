"""The binary AndroidManifest.xml as a small element tree, read with androguard's AXML pull parser.

androguard's `AXMLPrinter` builds an lxml tree and `AnalyzeAPK` decompiles everything; the assessment needs
neither. The pull parser is driven here with a budget of events, elements and attributes, and anything it
raises on hostile bytes becomes one `InvalidInput` naming the entry. Attribute names the parser cannot
resolve (it invents random placeholders for them) are dropped, so the same bytes always give the same tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from androguard.core import axml as _axml  # type: ignore[import-untyped]
from loguru import logger

from appban.errors import InvalidInput

__all__ = ["ANDROID_NS", "MAX_MANIFEST_BYTES", "Element", "parse_axml"]

# androguard logs every chunk through loguru at DEBUG, and loguru's default sink prints DEBUG to stderr: the
# CLI's one-line errors would drown, and hostile input would make it print megabytes.
logger.disable("androguard")

ANDROID_NS = "http://schemas.android.com/apk/res/android"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the largest real manifests are well under 1 MiB
MAX_ELEMENTS = 100_000
MAX_DEPTH = 64
MAX_ATTRIBUTES = 256  # per element


@dataclass(slots=True)
class Element:
    """One XML element: tag, attributes by local name (android: namespace or none), children in order."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)
    # Attributes whose namespace string is not the android URI but whose resource ID is a framework attribute:
    # Android reads attributes by resource ID, so they count, yet androguard-based tools do not see them.
    by_resource_id: tuple[str, ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def find_all(self, tag: str) -> list[Element]:
        return [child for child in self.children if child.tag == tag]

    def iter(self, tag: str) -> Iterator[Element]:
        """Every descendant (and self) with this tag, depth first, in document order."""
        stack = [self]
        while stack:
            node = stack.pop()
            if node.tag == tag:
                yield node
            stack.extend(reversed(node.children))


def parse_axml(data: bytes, source: str, entry: str) -> Element:
    """The root element of a binary XML document."""

    def fail(message: str) -> InvalidInput:
        return InvalidInput.at(source, f"entry '{entry}' {message}",
                               hint="the manifest is malformed; the app is damaged or built to defeat analysis")

    if len(data) > MAX_MANIFEST_BYTES:
        raise fail(f"is {len(data)} bytes, more than the {MAX_MANIFEST_BYTES} accepted for a manifest")
    try:
        return _parse(data, fail)
    except InvalidInput:
        raise
    except RecursionError:
        raise fail("nests too deeply") from None
    except Exception as error:  # the parser raises struct, index, unicode, value errors... on hostile bytes
        detail = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise fail(f"is not valid binary XML: {detail}") from None


def _parse(data: bytes, fail: Callable[[str], InvalidInput]) -> Element:
    parser = _axml.AXMLParser(data)
    if not parser.is_valid():
        raise fail("is not binary XML (bad header or string pool)")
    root: Element | None = None
    stack: list[Element] = []
    elements = 0
    events = 0
    while parser.is_valid():
        event = next(parser)
        events += 1
        if events > 4 * MAX_ELEMENTS:
            raise fail(f"has more than {4 * MAX_ELEMENTS} XML events")
        if event == _axml.END_DOCUMENT:
            break
        if event == _axml.START_TAG:
            name = parser.name
            if not name:
                raise fail("has an element without a name")
            elements += 1
            if elements > MAX_ELEMENTS:
                raise fail(f"has more than {MAX_ELEMENTS} elements")
            count = parser.getAttributeCount()
            if count > MAX_ATTRIBUTES:
                raise fail(f"has an element <{name}> with {count} attributes")
            attributes, by_id = _attributes(parser, count)
            element = Element(name, attributes, by_resource_id=by_id)
            if root is None:
                root = element
            elif not stack:
                raise fail("has a second root element")
            else:
                stack[-1].children.append(element)
            stack.append(element)
            if len(stack) > MAX_DEPTH:
                raise fail(f"nests elements deeper than {MAX_DEPTH}")
        elif event == _axml.END_TAG:
            if not stack:
                raise fail("closes an element it never opened")
            stack.pop()
    if not parser.is_valid():
        raise fail("is truncated or corrupt (a chunk could not be read)")
    if root is None:
        raise fail("holds no element")
    return root


def _attributes(parser: Any, count: int) -> tuple[dict[str, str], tuple[str, ...]]:
    attrs: dict[str, str] = {}
    by_id: list[str] = []
    for index in range(count):
        name = str(parser.getAttributeName(index))
        if name.startswith("android:UNKNOWN_SYSTEM_ATTRIBUTE_"):
            continue  # androguard names these with a random number: dropped to stay deterministic
        namespace = str(parser.getAttributeNamespace(index))
        if namespace not in ("", ANDROID_NS):
            if _framework_attribute(parser, index):
                by_id.append(name)  # e.g. xmlns "android" instead of the URI: still android:NAME on a device
            else:
                name = f"{{{namespace}}}{name}"
        value_type = parser.getAttributeValueType(index)
        value_data = parser.getAttributeValueData(index)
        attrs[name] = str(_axml.format_value(value_type, value_data,
                                             lambda _ix, i=index: parser.getAttributeValue(i)))
    return attrs, tuple(by_id)


def _framework_attribute(parser: Any, index: int) -> bool:
    """Whether the attribute's name carries a resource ID of the Android framework (0x0101xxxx)."""
    try:
        name_index = parser.m_attributes[parser._get_attribute_offset(index) + _axml.ATTRIBUTE_IX_NAME]
        resource_ids = parser.m_resourceIDs
        return bool(name_index < len(resource_ids) and resource_ids[name_index] >> 16 == 0x0101)
    except (AttributeError, IndexError, TypeError):
        return False  # another androguard layout: fall back to the namespace string
