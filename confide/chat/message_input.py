"""What a sent message must be: a body that shows something, within the length limit, with no
bidirectional controls; a client id of 1-64 printable characters.

Why apart from ``confide.chat.messages``: every way text enters a conversation checks its body
the same way (a message, an internal note, a social or SMS message, a recorded transcript
line), and these rules change with what readers can be fooled by, not with the delivery
contract.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from confide.core.errors import ValidationFailed

if TYPE_CHECKING:
    from confide.runtime import Runtime

MAX_CLIENT_ID = 64


# Characters that render as nothing: format characters (Unicode category Cf: zero-width space,
# joiners, direction marks, word joiner, BOM, ...) and the fillers and blanks that are letters
# or symbols by category but show no glyph (Hangul fillers, braille blank, variation selectors).
_INVISIBLE_NOT_CF = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0") | frozenset(
    chr(c) for c in range(0xFE00, 0xFE10)
)


def is_blank(text: str) -> bool:
    """True if ``text`` shows nothing: only whitespace and invisible characters."""
    return all(
        ch.isspace() or ch in _INVISIBLE_NOT_CF or unicodedata.category(ch) == "Cf" for ch in text
    )


# Bidirectional embedding, override and isolate controls (Unicode UAX #9): they reorder what
# a reader sees ("\u202egnp.exe" shows as "exe.png"), a spoofing tool in a chat and never
# needed to write right-to-left text. The marks (LRM, RLM, ALM) stay.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def check_body(rt: Runtime, body: str) -> str:
    """The body to store, stripped of surrounding whitespace and of bidirectional controls;
    raises ``ValidationFailed`` (field ``body``) if it shows nothing (only whitespace or
    invisible characters, which a visitor cannot see and an agent cannot answer), is too
    long, or is not Unicode text (a lone surrogate, half of an emoji: JSON's ``\ud83d``
    escape decodes to one, and no database or reader can take it)."""
    if not body.isascii():
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:
            broken = (
                "The message has a broken character (half an emoji?): remove it and send again."
            )
            raise ValidationFailed(broken, field="body") from None
    body = body.translate(_BIDI_CONTROLS).strip()
    if is_blank(body):
        raise ValidationFailed("Write something before sending.", field="body")
    if len(body) > rt.settings.message_max_chars:
        raise ValidationFailed(
            f"Messages are limited to {rt.settings.message_max_chars} characters.", field="body"
        )
    return body


def check_client_id(client_id: str) -> str:
    if not client_id or len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise ValidationFailed("Send a client_id of 1-64 printable characters.", field="client_id")
    return client_id
