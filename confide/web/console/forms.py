"""Settings forms: turn posted fields into the API's request models and its errors into
messages shown next to the field the API named.

Each settings form makes exactly one API call (one action, one transaction), so a refused form
changes nothing: there is no half-written state to undo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from confide.api.plain_errors import plain_message
from confide.core.errors import ConfideError
from confide.web.console.session import Visit

T = TypeVar("T")
FORM = ""  # the key of errors about the form as a whole


@dataclass
class Outcome(Generic[T]):
    value: T | None = None
    errors: dict[str, str] = field(default_factory=dict)
    status_code: int = 200

    @property
    def ok(self) -> bool:
        return not self.errors


def _errors(path: str | None, message: str) -> dict[str, str]:
    """Keyed by the full path (``retention_days.web``, a box of its own) and by its first part
    (``redaction_patterns.2`` is a line of the patterns box), so the template finds it."""
    path = path or FORM
    return {path: message, path.split(".", 1)[0]: message}


def _with_line(message: str, loc: tuple[Any, ...]) -> str:
    """A list typed one item a line (origins, patterns) names the line: ``Line 2: ...``."""
    if len(loc) >= 2 and str(loc[1]).isdigit():
        return f"Line {int(loc[1]) + 1}: {message}"
    return message


async def attempt(call: Callable[[], Awaitable[T]]) -> Outcome[T]:
    try:
        return Outcome(await call())
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in reversed(exc.errors()):  # the first error of a field wins
            parts = tuple(error.get("loc", ()))
            loc = ".".join(str(part) for part in parts)
            errors.update(_errors(loc, _with_line(plain_message(error), parts)))
        return Outcome(errors=errors, status_code=422)
    except ConfideError as exc:
        parts = tuple(exc.field.split(".")) if exc.field else ()
        return Outcome(
            errors=_errors(exc.field, _with_line(exc.message, parts)), status_code=exc.status_code
        )


def text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value[-1] if isinstance(value, list) else str(value)


def optional(form: dict[str, Any], name: str) -> str | None:
    """An empty box means *no value* (``None``), which the API reads as unset or cleared."""
    value = text(form, name).strip()
    return value or None


def checked(form: dict[str, Any], name: str) -> bool:
    return name in form


def many(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    return [v for v in (value if isinstance(value, list) else [value]) if v]


def lines(form: dict[str, Any], name: str) -> list[str]:
    return [line.strip() for line in text(form, name).splitlines() if line.strip()]


def settings_sections(visit: Visit) -> list[tuple[str, str]]:
    """The settings pages this operator may open, as (slug, title)."""
    from confide.access.policy import Action

    allowed = visit.allowed
    sections = []
    if Action.OPERATORS_MANAGE in allowed:
        sections.append(("operators", "Operators"))
    if Action.GROUPS_MANAGE in allowed:
        sections.append(("groups", "Groups"))
    if Action.API_KEYS_MANAGE in allowed:
        sections.append(("api-keys", "API keys"))
    if Action.WORKSPACE_SETTINGS in allowed:
        sections += [
            ("widget", "Widget"),
            ("labels", "Labels"),
            ("files", "Files and attributes"),
            ("channels", "Channels"),
            ("consent", "Consent requests"),
            ("privacy", "Privacy"),
            ("retention", "Retention"),
            ("security", "Security"),
            ("accountability", "Accountability"),
        ]
    if Action.AUDIT_READ in allowed:  # admins only: breaches, support access, custodians, holds
        sections += [("breaches", "Breaches"), ("access", "Access"), ("legal-holds", "Legal holds")]
    return sections
