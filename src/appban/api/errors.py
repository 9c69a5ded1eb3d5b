"""Every error the API answers has one JSON shape, so a client handles errors in one place:

    {"error": {"code": "...", "message": "one line", "where": "body.name" | null, "hint": "..." | null, ...}}

appban's own errors map to statuses here (InvalidInput 422 with every problem, NotFound 404, Conflict 409,
StorageUnavailable 503), and so do FastAPI's request validation (422 naming the field), Starlette's HTTP
errors (unknown route, wrong method) and anything unexpected (500, logged, no detail shown). A client's
mistake must never come back as a 5xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from appban.errors import AppbanError, Conflict, InvalidInput, NotFound, Problem, StorageUnavailable

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "ProblemOut",
    "error_body",
    "install_error_handlers",
    "responses",
]

logger = logging.getLogger("appban.api")

MAX_MESSAGE = 500
_OPTIONAL = ("current_etag", "changes", "diff")
_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
          422: "invalid_input", 428: "precondition_required", 429: "too_many_requests", 503: "unavailable"}


class ProblemOut(BaseModel):
    """One thing wrong with the request; `where` is a field path (`body.name`) or a file position."""

    message: str
    where: str | None = None
    hint: str | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    where: str | None = None
    hint: str | None = None
    problems: list[ProblemOut] = []
    current_etag: str | None = None  # 409 on a stale If-Match: the ETag to retry with
    changes: list[dict[str, Any]] | None = None  # 409 on a stale If-Match: what changed since
    diff: str | None = None  # 409 on a stale restriction: the file's changes, as a unified diff


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An answer other than success that the API gives on purpose (401, 403, 409 stale, 415, 428...)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, where: str | None = None,
                 hint: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(code=code or _CODES.get(status, "error"), message=_one_line(message), where=where,
                                  hint=hint, **extra)
        self.headers = dict(headers or {})


def error_body(status: int, message: str, *, code: str | None = None, where: str | None = None,
               hint: str | None = None) -> bytes:
    """The JSON bytes of an error, for code that answers below FastAPI (the body-size middleware)."""
    detail = ErrorDetail(code=code or _CODES.get(status, "error"), message=_one_line(message), where=where, hint=hint)
    return json.dumps(_plain(detail), separators=(",", ":"), ensure_ascii=False).encode()


def _plain(detail: ErrorDetail) -> dict[str, Any]:
    """`where` and `hint` always (null when unknown); the fields of a stale ETag only when they say something."""
    data = detail.model_dump(mode="json")
    for field in _OPTIONAL:
        if data.get(field) is None:
            data.pop(field, None)
    return {"error": data}


def _respond(status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(_plain(detail), status_code=status, headers=dict(headers or {}))


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _problem(problem: Problem) -> ProblemOut:
    return ProblemOut(message=_one_line(problem.message), where=str(problem.where), hint=problem.hint)


def _invalid(problems: Sequence[ProblemOut]) -> ErrorDetail:
    first = problems[0]
    more = len(problems) - 1
    message = first.message if not more else f"{first.message} (and {more} more problem{'s' if more > 1 else ''})"
    where = f"{first.where}: " if first.where else ""
    return ErrorDetail(code="invalid_input", message=_one_line(where + message), where=first.where, hint=first.hint,
                       problems=list(problems))


def _field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _validation_problems(errors: Sequence[Any]) -> list[ProblemOut]:
    out: list[ProblemOut] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = error.get("type", "")
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            out.append(ProblemOut(message=_one_line(f"the body is not valid JSON: {reason}".rstrip(": ")),
                                  where="body", hint="send a JSON object"))
            continue
        where = _field_path(loc) or None
        message = str(error.get("msg", "is not valid"))
        hint = "this field is not accepted here" if kind == "extra_forbidden" else None
        out.append(ProblemOut(message=_one_line(message), where=where, hint=hint))
    return out or [ProblemOut(message="the request is not valid")]


async def _on_api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _respond(error.status, error.detail, error.headers)


async def _on_appban_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AppbanError)
    if isinstance(error, InvalidInput):
        return _respond(422, _invalid([_problem(p) for p in error.problems]))
    status = (404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict)
              else 503 if isinstance(error, StorageUnavailable) else 400)
    if status == 503:
        logger.warning("storage unavailable: %s", error)
    return _respond(status, ErrorDetail(code=_CODES[status], message=_one_line(error.diagnosis)))


async def _on_validation(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return _respond(422, _invalid(_validation_problems(error.errors())))


async def _on_http(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status == 400:  # FastAPI could not read the body at all (not UTF-8, nested too deep): the body is invalid
        problem = ProblemOut(message="the body cannot be read as JSON", where="body", hint="send a UTF-8 JSON object")
        return _respond(422, _invalid([problem]))
    messages = {404: "no such resource", 405: "this method is not allowed here"}
    message = error.detail if isinstance(error.detail, str) and status not in messages else messages.get(
        status, str(error.detail))
    return _respond(status, ErrorDetail(code=_CODES.get(status, "error"), message=_one_line(message)), error.headers)


async def _on_integrity(_request: Request, _error: Exception) -> JSONResponse:
    return _respond(409, ErrorDetail(code="conflict", message="someone else changed the same thing at the same time",
                                     hint="read it again and retry"))


async def _on_data(_request: Request, _error: Exception) -> JSONResponse:
    return _respond(422, ErrorDetail(code="invalid_input", message="a value in the request cannot be stored",
                                     hint="check lengths and characters of the values sent"))


async def _on_disconnect(request: Request, _error: Exception) -> JSONResponse:
    """The client went away while sending its body (it gave up, or its proxy timed out): nothing was stored, the
    answer reaches nobody, and it is no server error."""
    logger.info("client went away during %s %s before its body was complete; nothing stored", request.method,
                request.url.path)
    return _respond(400, ErrorDetail(code="bad_request", message="the request body ended before it was complete",
                                     hint="send the whole body again"))


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return _respond(500, ErrorDetail(code="internal", message="internal error; it was logged",
                                     hint="report it with the time of the request"))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` in the one JSON shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(AppbanError, _on_appban_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(DataError, _on_data)
    app.add_exception_handler(ClientDisconnect, _on_disconnect)
    app.add_exception_handler(Exception, _on_unexpected)


_DESCRIPTIONS = {
    400: "The request cannot be read.",
    401: "No valid token: missing, unknown, expired or revoked (see `WWW-Authenticate`).",
    403: "The token's role may not do this.",
    404: "No such object, or none the caller's organisations may see.",
    409: "A conflict with what is stored; on a stale `If-Match`, what changed since.",
    413: "The body is larger than allowed.",
    415: "The body's media type is not accepted here.",
    422: "The request is not valid; every problem is listed with where it is.",
    428: "`If-Match` is required: read the object and send its `ETag`.",
    429: "Too many requests for this token; wait as `Retry-After` says.",
    503: "The database cannot be reached.",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in _DESCRIPTIONS.items()}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route, for FastAPI's `responses=`."""
    return {status: ERROR_RESPONSES[status] for status in statuses}

