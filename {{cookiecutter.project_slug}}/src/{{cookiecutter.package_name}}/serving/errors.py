"""Error answers of the service: one JSON shape per kind, always encodable, never verbose.

A 422 lists what is wrong with the request in FastAPI's documented shape (`loc`, `msg`,
`type`, `input`), with every echoed value cut to `logs.ECHO_LIMIT` characters and made
JSON-safe: a body may hold NaN, 1e400 or a lone surrogate, which no JSON answer can
carry verbatim. Every other error answers `{"detail": "<one line>"}`.
"""

import json
import math
from typing import Any, cast

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..logs import shorten
from .schemas import RECORD_TAGS

ResponseSpec = dict[int | str, dict[str, Any]]


class ErrorMessage(BaseModel):
    """Any error but a 422: what went wrong, in one line."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where: body, path or query, then field names.")
    msg: str
    type: str
    input: Any = Field(default=None, description="The failing value (text cut to 80 characters).")
    ctx: dict[str, Any] | None = None


class ValidationErrors(BaseModel):
    """A 422: every failing value of the request."""

    detail: list[ValidationIssue]


RESPONSES: ResponseSpec = {
    400: {"model": ErrorMessage, "description": "Unreadable body (encoding, multipart)"},
    401: {"model": ErrorMessage, "description": "No API key, or an unknown one"},
    403: {"model": ErrorMessage, "description": "The API key lacks the scope of this route"},
    404: {"model": ErrorMessage, "description": "Unknown prediction id"},
    413: {"model": ErrorMessage, "description": "Body over the size limit, or too many records"},
    429: {"model": ErrorMessage, "description": "Rate limit reached: retry after Retry-After s"},
    503: {"model": ErrorMessage, "description": "The service cannot take the request now"},
}


def responses(*codes: int) -> ResponseSpec:
    """The documented error answers of a route."""
    return {code: RESPONSES[code] for code in codes}


def safe_text(value: str) -> str:
    """`value` with lone surrogates escaped (`\\ud800`), so that UTF-8 can carry it."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def echo(value: object) -> object:
    """A user-supplied value fit for an error answer: short and JSON-encodable."""
    if value is None or (isinstance(value, int) and abs(value) < 2**53):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        return safe_text(shorten(value))
    try:
        text = json.dumps(value, default=repr)
    except ValueError:  # circular
        text = repr(value)
    return safe_text(shorten(text))


def _location(loc: tuple[int | str, ...]) -> list[int | str]:
    """The path to the bad value, without pydantic's name for the union branch taken."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] == "body" and parts[1] in RECORD_TAGS:
        del parts[1]
    return [part if isinstance(part, int) else safe_text(shorten(part)) for part in parts]


def _context(ctx: dict[str, Any]) -> dict[str, object]:
    return {str(key): echo(value) for key, value in ctx.items()}


def validation_errors(error: RequestValidationError) -> list[dict[str, object]]:
    """The 422 body's `detail`: each failing value once, located and echoed safely."""
    details = []
    for issue in error.errors():
        detail: dict[str, object] = {
            "type": issue["type"],
            "loc": _location(tuple(issue["loc"])),
            "msg": safe_text(shorten(issue["msg"], limit=200)),
        }
        if issue["type"] != "missing":  # else the input is the whole enclosing object
            detail["input"] = echo(issue.get("input"))
        if issue.get("ctx"):
            detail["ctx"] = _context(issue["ctx"])
        details.append(detail)
    return details


async def request_invalid(request: Request, error: Exception) -> JSONResponse:
    """422 naming each failing field; echoed values short and encodable."""
    return JSONResponse(
        {"detail": validation_errors(cast(RequestValidationError, error))}, status_code=422
    )
