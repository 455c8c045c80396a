"""Turn every failure into ``{"error": {"code", "message", "field"}}`` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
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
    # pydantic's message describes the constraint; it never echoes the input value.
    message = str(first.get("msg", "Invalid value")).rstrip(".")
    return ValidationFailed(f"The field {field!r} is invalid: {message}.", field=field)


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
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_cls = _STATUS_ERRORS.get(exc.status_code, ConfideError)
        error = error_cls()
        if error_cls is ConfideError:
            error.status_code = exc.status_code
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Log the type and location only: exception messages can carry personal data.
        log.error("unhandled %s", type(exc).__name__, exc_info=False)
        return error_response(ConfideError())
