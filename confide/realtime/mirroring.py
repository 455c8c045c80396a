"""Page mirroring frames: what of a visitor's page may pass through the server, and in what shape.

Why a relay that rebuilds every frame: the widget sanitises the page in the browser
(``cobrowse.js`` drops scripts, styles, event handlers, frames and form values, and puts
placeholders where a field is marked ``data-confide-hide``, is a password or a card field, or is
an image), so a hidden value never reaches the server. The server trusts none of that: it
rebuilds each tree from an allow-list (tags, attributes, node shapes), strips anything that
could make the console fetch or run something (``href``, ``src``, styles, ``on*`` handlers), and
redacts every text by the workspace's policy, as it would a message. Frames are relayed to the
conversation's channel and never stored; each is size-limited (the socket's 256 KiB frame
limit, ``MAX_NODES``, ``MAX_TEXT_CHARS``) and rate-limited per visitor
(``MIRROR_FRAMES_PER_MINUTE``).

Wire shapes (``kind`` of a ``mirror`` frame):
    page      {"url", "title"}                             the address and title (no query)
    snapshot  {"url", "title", "tree", "viewport": {"w", "h"}}
    diff      {"ops": [{"op": "add", "parent", "before", "node"} | {"op": "remove", "id"}
                      | {"op": "text", "id", "text"} | {"op": "attr", "id", "name", "value"}]}
    scroll    {"x", "y", "w", "h", "page_h"}               pixels (viewport, page height)
A tree node is an element ``{"i": id, "t": tag, "a": {name: value}, "c": [nodes]}``, a text
``{"i": id, "x": text}`` or a placeholder ``{"i": id, "p": kind, "w": px, "h": px}``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from confide.core.errors import ValidationFailed
from confide.privacy import redaction

MIRROR_FRAMES_PER_MINUTE = 1200  # snapshots, diffs and scrolls together, per visitor
MAX_NODES = 20_000
MAX_DEPTH = 120
MAX_OPS = 500
MAX_TEXT_CHARS = 10_000
MAX_ATTR_CHARS = 2_000
MAX_COORDINATE = 10_000_000
MIRROR_KINDS = ("page", "snapshot", "diff", "scroll")
PLACEHOLDERS = ("hidden", "password", "card", "image", "media", "frame", "field")
_TAG = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Never relayed, whatever the widget sent: they run code, embed other documents or fetch.
DROPPED_TAGS = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "link", "meta",
     "base", "noscript", "template", "portal", "img", "picture", "video", "audio", "source",
     "track", "image", "use", "foreignobject", "style", "title", "head"}
)  # fmt: skip
ALLOWED_ATTRIBUTES = frozenset(
    {"class", "id", "role", "dir", "lang", "title", "alt", "width", "height", "colspan",
     "rowspan", "type", "placeholder", "aria-label", "aria-hidden", "for", "disabled", "hidden",
     "span"}
)  # fmt: skip
_TEXT_ATTRIBUTES = ("title", "alt", "placeholder", "aria-label")


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(
            f"{field} must be a string of at most {limit} characters.", field=field
        )
    return value


def _count(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COORDINATE:
        raise ValidationFailed(f"{field} must be a non-negative integer.", field=field)
    return value


def _attributes(attrs: Any) -> dict[str, str]:
    if attrs is None:
        return {}
    if not isinstance(attrs, dict) or len(attrs) > 64:
        raise ValidationFailed("a must be an object of at most 64 attributes.", field="tree")
    kept: dict[str, str] = {}
    for name, value in attrs.items():
        if name not in ALLOWED_ATTRIBUTES or not isinstance(value, str):
            continue  # on*, href, src, value, data-*, ...: dropped, not reported
        if len(value) > MAX_ATTR_CHARS:
            raise ValidationFailed("An attribute value is too long.", field="tree")
        kept[name] = value
    return kept


def _node_id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise ValidationFailed("Every node needs a positive integer id 'i'.", field="tree")
    return value


class _TreeCleaner:
    """Rebuilds one tree (or several, for a diff) from the allow-list, counting nodes; the
    texts it kept are redacted together by :meth:`redact` (one pass for the whole page)."""

    def __init__(self, policy: redaction.RedactionPolicy) -> None:
        self.policy = policy
        self.nodes = 0
        self.pending: list[tuple[dict[str, Any], str]] = []

    def to_redact(self, holder: dict[str, Any], key: str) -> None:
        if holder[key].strip():
            self.pending.append((holder, key))

    def redact(self) -> None:
        texts = [holder[key] for holder, key in self.pending]
        for (holder, key), text in zip(
            self.pending, redaction.redact_many(self.policy, texts), strict=True
        ):
            holder[key] = text
        self.pending = []

    def clean(self, node: Any) -> dict[str, Any] | None:
        # Iterative, so a deep page cannot exhaust the interpreter's stack.
        root: dict[str, Any] | None = None
        stack: list[tuple[Any, list[dict[str, Any]] | None, int]] = [(node, None, 0)]
        while stack:
            raw, siblings, depth = stack.pop()
            cleaned, children = self._one(raw, depth)
            if cleaned is None:
                continue
            if siblings is None:
                root = cleaned
            else:
                siblings.append(cleaned)
            for child in reversed(children):
                stack.append((child, cleaned["c"], depth + 1))
        return root

    def _one(self, raw: Any, depth: int) -> tuple[dict[str, Any] | None, list[Any]]:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise ValidationFailed(
                f"A mirrored page is limited to {MAX_NODES} nodes, {MAX_DEPTH} deep.", field="tree"
            )
        if not isinstance(raw, dict):
            raise ValidationFailed("Tree nodes must be objects.", field="tree")
        node_id = _node_id(raw.get("i"))
        if "x" in raw:
            text = {"i": node_id, "x": _text(raw["x"], "tree", MAX_TEXT_CHARS)}
            self.to_redact(text, "x")
            return text, []
        if "p" in raw:
            if raw["p"] not in PLACEHOLDERS:
                raise ValidationFailed("Unknown placeholder kind.", field="tree")
            return {
                "i": node_id,
                "p": raw["p"],
                "w": _count(raw.get("w", 0), "tree"),
                "h": _count(raw.get("h", 0), "tree"),
            }, []
        tag = raw.get("t")
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise ValidationFailed("Element tags are lower-case names.", field="tree")
        if tag in DROPPED_TAGS:
            return None, []
        children = raw.get("c", [])
        if not isinstance(children, list):
            raise ValidationFailed("c must be a list of nodes.", field="tree")
        attributes = _attributes(raw.get("a"))
        for name in _TEXT_ATTRIBUTES:
            if name in attributes:
                self.to_redact(attributes, name)
        return {"i": node_id, "t": tag, "a": attributes, "c": []}, children


def page_url(value: Any) -> str:
    """An http(s) address without query string or fragment (they can hold personal data)."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise ValidationFailed("url must be a string of at most 2000 characters.", field="url")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed("url must be an http(s) address.", field="url")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def clean_frame(policy: redaction.RedactionPolicy, frame: dict[str, Any]) -> dict[str, Any]:
    """The relayable body of a ``mirror`` frame (without type, conversation, author).

    Raises ValidationFailed naming the field when the frame is malformed or over a limit; text
    is redacted by ``policy``; disallowed tags and attributes are dropped."""
    kind = frame.get("kind", "page")
    if kind not in MIRROR_KINDS:
        raise ValidationFailed("kind is 'page', 'snapshot', 'diff' or 'scroll'.", field="kind")
    if kind == "scroll":
        return {
            "kind": kind,
            **{k: _count(frame.get(k, 0), k) for k in ("x", "y", "w", "h", "page_h")},
        }
    if kind == "diff":
        ops = frame.get("ops")
        if not isinstance(ops, list) or not 0 < len(ops) <= MAX_OPS:
            raise ValidationFailed(f"ops must be a list of 1-{MAX_OPS} changes.", field="ops")
        cleaner = _TreeCleaner(policy)
        changes = [_op(cleaner, op) for op in ops]
        cleaner.redact()
        return {"kind": kind, "ops": changes}
    cleaner = _TreeCleaner(policy)
    body: dict[str, Any] = {
        "kind": kind,
        "url": page_url(frame.get("url")),
        "title": _text(frame.get("title", ""), "title", 300),
    }
    cleaner.to_redact(body, "title")
    if kind == "snapshot":
        tree = cleaner.clean(frame.get("tree"))
        if tree is None or "t" not in tree:
            raise ValidationFailed("tree must be the page's body element.", field="tree")
        viewport = frame.get("viewport")
        if not isinstance(viewport, dict):
            raise ValidationFailed("viewport must be an object with w and h.", field="viewport")
        body["tree"] = tree
        body["viewport"] = {k: _count(viewport.get(k, 0), "viewport") for k in ("w", "h")}
    cleaner.redact()
    return body


def _op(cleaner: _TreeCleaner, op: Any) -> dict[str, Any]:
    if not isinstance(op, dict):
        raise ValidationFailed("Each change must be an object.", field="ops")
    name = op.get("op")
    if name == "remove":
        return {"op": name, "id": _node_id(op.get("id"))}
    if name == "text":
        change = {
            "op": name,
            "id": _node_id(op.get("id")),
            "text": _text(op.get("text"), "ops", MAX_TEXT_CHARS),
        }
        cleaner.to_redact(change, "text")
        return change
    if name == "attr":
        attr = op.get("name")
        value = op.get("value")
        if not isinstance(attr, str) or attr not in ALLOWED_ATTRIBUTES:
            return {"op": "noop"}
        kept = _attributes({attr: value}) if value is not None else {}
        change = {"op": name, "id": _node_id(op.get("id")), "name": attr, "value": kept.get(attr)}
        if attr in _TEXT_ATTRIBUTES and change["value"] is not None:
            cleaner.to_redact(change, "value")
        return change
    if name == "add":
        before = op.get("before")
        node = cleaner.clean(op.get("node"))
        return {
            "op": name,
            "parent": _node_id(op.get("parent")),
            "before": None if before is None else _node_id(before),
            "node": node,
        }
    raise ValidationFailed("op is 'add', 'remove', 'text' or 'attr'.", field="ops")


def same_origin(url: Any, origin: str | None) -> bool:
    """Whether ``url`` is an http(s) address on ``origin`` (scheme://host[:port]) — RFC 6454."""
    if not isinstance(url, str) or not origin or len(url) > 2000:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" == origin
