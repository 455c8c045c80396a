"""Validation errors in plain sentences, for the API and the console alike.

pydantic describes a constraint in its own terms (``String should match pattern '^https?://…'``),
which means nothing to the admin who typed a trailing slash. This module turns one pydantic
error into a sentence that says what to write instead; it never echoes the value typed (it may
be personal data). Fields with a format of their own get a sentence naming that format.
"""

from __future__ import annotations

from typing import Any

# The last named part of the location (``allowed_origins`` in ``allowed_origins.2``) -> what a
# valid value looks like.
_FORMATS: dict[str, str] = {
    "allowed_origins": (
        "Write an origin as a scheme and a host, with an optional port and nothing after it, "
        "like https://shop.example or https://shop.example:8443 (no path, no trailing slash)."
    ),
    "accent_color": "Write the colour as # and six hexadecimal digits, like #3050d8.",
    "languages": "Write a language tag like en, fr or pt-BR.",
    "path_prefix": "Write a path that starts with /, like /pricing.",
    "email": "Write an e-mail address like name@example.com.",
    "username": "Use 1-64 lowercase letters, digits, dots, hyphens or underscores.",
    "shortcut": "Use 1-32 lowercase letters, digits, hyphens or underscores.",
}


def _named_field(loc: tuple[Any, ...]) -> str | None:
    names = [str(part) for part in loc if not isinstance(part, int) and not str(part).isdigit()]
    return names[-1] if names else None


def plain_message(error: dict[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a full sentence.

    Only the error's type, location and constraint context are read; ``input`` is ignored."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    name = _named_field(tuple(error.get("loc", ())))
    if kind == "string_pattern_mismatch" and name in _FORMATS:
        return _FORMATS[name]
    if kind == "string_pattern_mismatch":
        return "This value is not in the expected form."
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "This field is not accepted here."
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "This field cannot be empty."
        return f"Use at least {ctx.get('min_length')} characters."
    if kind == "string_too_long":
        return f"Use at most {ctx.get('max_length')} characters."
    if kind == "too_long":
        return f"Give at most {ctx.get('max_length')} entries."
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return "Give at least one entry."
        return f"Give at least {ctx.get('min_length')} entries."
    if kind in ("greater_than_equal", "greater_than"):
        return f"Use a number of at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"Use a number of at most {ctx.get('le', ctx.get('lt'))}."
    if kind.startswith("int_") or kind.startswith("float_"):
        return "Write a whole number." if kind.startswith("int_") else "Write a number."
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"Choose one of: {expected}." if expected else "Choose one of the options."
    if kind.startswith("uuid"):
        return "This is not a valid identifier."
    if kind.startswith("bool"):
        return "Use true or false."
    if kind == "timezone_aware":
        return "Give the time with its UTC offset, like 2026-11-30T14:05:00+01:00 or ...Z."
    if kind.startswith("datetime"):
        return "Write a date and time in ISO 8601, like 2026-11-30T14:05:00Z."
    if kind.startswith("date"):
        return "Write a date in ISO 8601, like 2026-11-30."
    if kind.startswith("time"):
        return "Write a time like 14:05."
    if kind.startswith("url"):
        return "Write a full address like https://example.com/path."
    if kind == "string_type":
        return "Write text (a JSON string)."
    if kind in ("list_type", "tuple_type", "set_type"):
        return "Give a list (a JSON array)."
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "Give an object (a JSON object with named fields)."
    if kind == "value_error":
        return str(error.get("msg", "This value is not valid.")).removeprefix("Value error, ")
    message = str(error.get("msg", "This value is not valid.")).rstrip(".")
    return f"{message}."
