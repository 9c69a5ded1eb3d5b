"""Lists come in pages: `limit` (1 to 500, default 50) and an opaque `cursor` taken from the last page's `next`.

Every list answers `{"items": [...], "next": cursor | null, "total": n}`. A cursor is bound to the query it
came from (filters and sort): reused with other filters it is refused with 422, rather than silently
skipping or repeating items. Clients must treat it as opaque: today it holds a position, and a list may move
to keyset positions without changing its clients.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from appban.errors import InvalidInput

__all__ = ["MAX_LIMIT", "Page", "PageParams", "PageRequest", "page_request", "query_of", "slice_page"]

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_CURSOR_LENGTH = 200
_MAX_POSITION = 2**53

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: its items, the cursor of the next page (null on the last) and the total count."""

    items: list[T]
    next: str | None
    total: int


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: str | None

    def position(self, query: str) -> int:
        """Where the page starts: 0 without a cursor; InvalidInput for a cursor of another query or none at all."""
        if self.cursor is None:
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(self.cursor + "=" * (-len(self.cursor) % 4)))
            position, key = data["p"], data["q"]
        except (ValueError, binascii.Error, KeyError, TypeError):
            raise InvalidInput.at("query.cursor", "not a cursor this API made",
                                  hint="pass the `next` of the previous page unchanged") from None
        if key != _key(query) or not isinstance(position, int) or not 0 <= position <= _MAX_POSITION:
            raise InvalidInput.at("query.cursor", "this cursor belongs to another query (other filters or sort)",
                                  hint="start again without a cursor")
        return position

    def next_cursor(self, query: str, position: int) -> str:
        text = json.dumps({"p": position, "q": _key(query)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1 to 500).")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_-]*$",
                                        description="The `next` of the previous page.")] = None,
) -> PageRequest:
    """The dependency of every list route."""
    return PageRequest(limit=limit, cursor=cursor)


PageParams = Annotated[PageRequest, Depends(page_request)]


def slice_page(items: Sequence[T], request: PageRequest, query: str) -> tuple[list[T], str | None, int]:
    """A page of a list held in memory (organisations, restrictions, exemptions, tokens): items, next, total."""
    start = request.position(query)
    chunk = list(items[start:start + request.limit])
    end = start + len(chunk)
    return chunk, request.next_cursor(query, end) if end < len(items) else None, len(items)


def query_of(name: str, **parameters: object) -> str:
    """What a cursor is bound to: the list's name, its filters and its sort."""
    return json.dumps([name, {key: str(value) for key, value in sorted(parameters.items())}], separators=(",", ":"))


def _key(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:12]
