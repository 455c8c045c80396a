"""Links in message text, made safe: only http(s) URLs become links, and every link opens
without giving the visited page a handle on the console (``rel="noopener noreferrer
nofollow"``, new tab). Everything else stays text, escaped.

``/static/console/common.js`` (``linkify``) applies the same rule to live messages; the URL
pattern is the same in both places.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# A URL runs to the next space or angle bracket; trailing punctuation stays outside the link.
URL_PATTERN = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"
LINK_REL = "noopener noreferrer nofollow"


def _split_trailing(url: str) -> tuple[str, str]:
    end = len(url)
    while end > 0 and url[end - 1] in _TRAILING:
        end -= 1
    return url[:end], url[end:]


def linkify(text: str | None) -> Markup:
    """``text`` escaped, with each http(s) URL wrapped in a safe ``<a>``."""
    if not text:
        return Markup("")
    parts: list[str] = []
    last = 0
    for match in URL_PATTERN.finditer(text):
        url, trailing = _split_trailing(match.group(0))
        if len(url) <= len("https://"):
            continue
        parts.append(escape(text[last : match.start()]))
        parts.append(
            Markup('<a href="{0}" rel="{1}" target="_blank">{0}</a>').format(url, LINK_REL)
        )
        parts.append(escape(trailing))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)
