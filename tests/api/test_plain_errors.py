"""pydantic's own wording never reaches people: each error becomes a sentence saying what to
write instead, without echoing the value typed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import AwareDatetime, BaseModel, HttpUrl, ValidationError

from confide.api.plain_errors import plain_message


class Form(BaseModel):
    when: dt.datetime | None = None
    aware: AwareDatetime | None = None
    day: dt.date | None = None
    at: dt.time | None = None
    link: HttpUrl | None = None
    name: str | None = None
    tags: list[str] | None = None


def first_error(**values: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        Form(**values)
    error: dict[str, Any] = caught.value.errors()[0]
    return error


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"when": "next tuesday-ish"}, "Write a date and time in ISO 8601, like"),
        ({"aware": "2026-11-30T14:05:00"}, "Give the time with its UTC offset"),
        ({"day": "30/11/2026-ish"}, "Write a date in ISO 8601, like 2026-11-30."),
        ({"at": "teatime-ish"}, "Write a time like 14:05."),
        ({"link": "not a link-ish"}, "Write a full address like https://"),
        ({"name": 12}, "Write text (a JSON string)."),
        ({"tags": "one-ish"}, "Give a list (a JSON array)."),
    ],
)
def test_library_wording_becomes_a_sentence_that_says_what_to_write(
    values: dict[str, Any], expected: str
) -> None:
    error = first_error(**values)
    message = plain_message(error)
    assert message.startswith(expected), message
    assert "Input should" not in message and "-ish" not in message
