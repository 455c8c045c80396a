"""The file formats inside a subject export ZIP: JSON values, CSV, HTML transcripts, the ZIP
stream itself.

Why a module of its own: each format carries a safety rule that is easy to get wrong and must
be tested on its own.

- **CSV** cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return: OWASP "CSV injection") get a leading apostrophe, so opening
  the file in a spreadsheet shows the text instead of evaluating it.
- **HTML** transcripts are static: every value is escaped, there is no script, and a strict
  Content-Security-Policy ``<meta>`` allows nothing but the page's own inline style (by its
  hash), so a message that looks like markup stays text even in a browser.
- **ZIP** entries are written one after another into a sink that is drained between writes
  (``zipfile`` on a non-seekable stream, data descriptors after each entry), so the archive is
  never held in memory whole.
"""

from __future__ import annotations

import base64
import csv
import enum
import hashlib
import html
import io
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ZIP_DRAIN_BYTES = 256 * 1024
# Fast deflate: a few percent larger than level 6 on chat text, several times quicker.
ZIP_COMPRESS_LEVEL = 1

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;"
    "color:#1a1a1a}header{border-bottom:1px solid #ccc;margin-bottom:1rem}"
    ".mark{background:#fde68a;padding:.1rem .4rem;border-radius:.2rem}"
    "ol{list-style:none;padding:0}li{margin:.6rem 0}.who{font-weight:600}"
    ".when{color:#555;font-size:.85rem}.text{white-space:pre-wrap;margin:.2rem 0 0}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
TRANSCRIPT_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; "
    "form-action 'none'; base-uri 'none'"
)


def plain(value: Any) -> Any:
    """A database value as JSON: ids and times as strings (ISO 8601, UTC), enums by value,
    bytes as base64; dicts and lists recursively."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool or kind is float:
        return value
    if kind is uuid.UUID:
        return str(value)
    if kind is datetime:
        return value.isoformat()
    if isinstance(value, bool | int | float | str):  # subclasses (str enums are below)
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of an already ``plain`` value."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def csv_cell(value: Any) -> str:
    """One CSV cell: JSON for structures, ``""`` for null, and a leading apostrophe before
    anything a spreadsheet would evaluate as a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_lines(rows: Iterable[Sequence[Any]]) -> bytes:
    """RFC 4180 lines (CRLF, quoted where needed) of already-escaped cells, as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue().encode()


def transcript_head(conversation: Mapping[str, Any], marks: Sequence[str]) -> bytes:
    """The start of a conversation's HTML transcript, up to the opening of its message list."""
    e = html.escape
    badges = "".join(f' <span class="mark">{e(mark)}</span>' for mark in marks)
    facts = "".join(
        f"<dt>{e(label)}</dt><dd>{e(str(conversation.get(key) or '-'))}</dd>"
        for label, key in (
            ("Conversation", "id"),
            ("Channel", "channel"),
            ("Started", "created_at"),
            ("Closed", "closed_at"),
            ("Status", "status"),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(TRANSCRIPT_CSP, quote=False)}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>Conversation {e(str(conversation['id']))}</title>"
        f"<style>{_STYLE}</style></head><body><header><h1>Conversation{badges}</h1>"
        f"<dl>{facts}</dl></header><ol>\n"
    ).encode()


def transcript_message(author: str, created_at: Any, text: str | None) -> bytes:
    """One message of a transcript; a message whose text is not stored says so."""
    e = html.escape
    body = e(text) if text is not None else "<em>(text not stored)</em>"
    return (
        f'<li><span class="who">{e(author)}</span> <span class="when">{e(str(created_at))}'
        f'</span><p class="text">{body}</p></li>\n'
    ).encode()


TRANSCRIPT_TAIL = b"</ol></body></html>\n"


class ZipSink:
    """A write-only, non-seekable file for ``zipfile``: bytes accumulate until ``take``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def take(self) -> bytes:
        """The bytes written since the last ``take``."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
