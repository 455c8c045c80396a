"""Turn every failure into ``{"error": {"code", "message", "field"}}`` with the right status."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from confide.api.middleware import SECURITY_HEADERS
from confide.api.plain_errors import plain_message
from confide.core import outages
from confide.core.errors import (
    BadRequest,
    ConfideError,
    MethodNotAllowed,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)

log = logging.getLogger("confide.api")

_STATUS_ERRORS: dict[int, type[ConfideError]] = {
    400: BadRequest,
    401: Unauthenticated,
    404: NotFound,
    405: MethodNotAllowed,
}


def error_response(error: ConfideError) -> JSONResponse:
    return JSONResponse(error.to_body(), status_code=error.status_code, headers=error.headers)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    # Only the first element says where the value came from; a field may itself be "body".
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or (str(loc[0]) if loc else None)


def _validation_error(exc: RequestValidationError) -> ConfideError:
    errors = exc.errors()
    if not errors:
        return ValidationFailed()
    first = errors[0]
    kind = str(first.get("type", ""))
    loc = tuple(first.get("loc", ()))
    if kind == "json_invalid":
        return BadRequest("The request body is not valid JSON.", field="body")
    if kind in ("model_attributes_type", "dict_type") and loc in (("body",), ()):
        return BadRequest("The request body must be a JSON object.", field="body")
    field = _field_of(loc)
    if kind == "missing":
        return ValidationFailed(f"The field {field!r} is required.", field=field)
    if kind == "extra_forbidden":
        return ValidationFailed(f"The field {field!r} is not accepted here.", field=field)
    # A plain sentence saying what to write instead; it never echoes the input value.
    return ValidationFailed(f"The field {field!r} is invalid. {plain_message(first)}", field=field)


def _allowed_methods(request: Request) -> list[str]:
    """Methods the path accepts, read from the OpenAPI document (built once, then cached)."""
    methods: set[str] = set()
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template, operations in paths.items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods.update(m.upper() for m in operations)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConfideError)
    async def _confide_error(_request: Request, exc: ConfideError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("internal error: %s", type(exc).__name__)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_cls = _STATUS_ERRORS.get(exc.status_code, ConfideError)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110: name every method the path accepts (Starlette names only the first
            # route that matched the path).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        error = error_cls(headers=headers)
        if error_cls is ConfideError:
            error.status_code = exc.status_code
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        error: ConfideError
        if outages.is_outage(exc):
            # The database or Redis is unreachable: 503 with Retry-After, never a 500.
            log.warning("service unavailable: %s", type(exc).__name__)
            error = outages.unavailable()
        else:
            # Log the type and location only: exception messages can carry personal data.
            log.error("unhandled %s", type(exc).__name__, exc_info=False)
            error = ConfideError()
        # This handler runs outside every middleware, so the security headers are added here.
        response = error_response(error)
        for name, value in SECURITY_HEADERS:
            response.headers[name.decode()] = value.decode()
        return response
