"""Redaction: mask payment cards, IBANs, phone numbers, e-mail addresses and the workspace's own
patterns in a message *before* it is stored.

Why here, before the vault: a number a visitor pastes into a chat is data the controller never
asked for (GDPR Art. 5(1)(c), minimisation) and, for cards, data it must not keep (PCI DSS).
Encrypting it would still be keeping it; masking it before the text reaches
``confide.privacy.vault`` means it exists only in the request that carried it. The stored
message, the event every socket receives and the sender's acknowledgement all carry the masked
text, so what the sender sees is what was kept. The message records *what* was masked as counts
per kind (``messages.redactions``), never the masked text; nothing here logs a value.

Detection, in this order, on the original text (``confide.privacy.detectors`` has the rules and
why; a span an earlier detector claimed is blanked before the next one looks, so it cannot be
claimed twice or as another kind):
1. e-mail addresses (including apostrophes, quoted local parts and internationalised domains);
2. IBANs, kept only if the ISO 7064 checksum and national format hold (``stdnum.iban``);
3. payment cards: Luhn-valid windows of a digit run with a card scheme's prefix, length and
   grouping, so timestamps, ISBNs and parcel numbers stay;
4. phone numbers: ``phonenumbers`` once per region the workspace serves (``phone_regions``;
   numbers without a country code are recognised only in those regions' national formats);
5. the admin's custom regular expressions.

Accuracy is measured, not assumed: ``confide.privacy.redaction_accuracy`` runs the policy over a
labelled corpus and reports precision and recall per kind; the settings page shows the figures.

Custom patterns run on untrusted text with Python's backtracking engine, which has no timeout.
They are therefore checked when saved (:func:`check_custom_pattern`): at most
``MAX_PATTERN_CHARS`` long, must compile, must not match the empty string, and must contain no
backreference and no repetition nested inside another repetition (``(a+)+``, ``(\\w*)*``), the
shape behind catastrophic backtracking. Messages are themselves bounded in length.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

from confide.core.errors import ValidationFailed
from confide.privacy import detectors as detectors_

MAX_PATTERN_CHARS = 200
KINDS = ("email", "iban", "card", "phone", "custom")
_BLANK = "\x00"  # stands in for claimed text: no detector matches it, and it breaks digit runs


@dataclass(frozen=True)
class RedactionPolicy:
    """What a workspace masks. ``phone_regions``: ISO 3166 codes whose national formats are
    recognised (``phone_region``, one code, is the older single-region form and is merged in)."""

    cards: bool = True
    ibans: bool = True
    phones: bool = False
    emails: bool = False
    phone_region: str | None = None
    patterns: tuple[str, ...] = ()
    phone_regions: tuple[str, ...] = ()
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, settings: Any) -> RedactionPolicy:
        """From a ``WorkspacePrivacySettings`` row (or anything with the same attributes)."""
        patterns = tuple(settings.redaction_patterns or ())
        return cls(
            cards=settings.redact_cards,
            ibans=settings.redact_ibans,
            phones=settings.redact_phones,
            emails=settings.redact_emails,
            phone_region=settings.phone_region,
            phone_regions=tuple(getattr(settings, "phone_regions", None) or ()),
            patterns=patterns,
            _compiled=tuple(re.compile(p) for p in patterns),
        )

    def regions(self) -> tuple[str | None, ...]:
        """The regions phone detection runs with; ``(None,)``: ``+<country>`` numbers only."""
        merged = dict.fromkeys(
            [*([self.phone_region] if self.phone_region else []), *self.phone_regions]
        )
        return tuple(merged) or (None,)

    def kinds(self) -> list[str]:
        enabled = {
            "email": self.emails,
            "iban": self.ibans,
            "card": self.cards,
            "phone": self.phones,
            "custom": bool(self.patterns),
        }
        return [kind for kind in KINDS if enabled[kind]]


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int] | None  # per enabled kind; None if the policy checks for nothing

    @property
    def masked_anything(self) -> bool:
        return bool(self.counts) and any(self.counts.values())  # type: ignore[union-attr]


_ANY_DIGIT = re.compile(r"\d")  # a decimal digit of any script


def mask(kind: str) -> str:
    return f"[redacted {kind}]"


def find(policy: RedactionPolicy, text: str) -> list[tuple[int, int, str]]:
    """Every span the policy masks in ``text``: ``(start, end, kind)`` sorted by start, not
    overlapping. ``redact`` masks them; the accuracy measurement compares them to labels."""
    found: list[tuple[int, int, str]] = []
    view = text
    detectors: list[tuple[str, Callable[[str], Iterable[tuple[int, int]]]]] = []
    # Most chat lines hold no digit and no "@": then no IBAN, card or phone number (each needs
    # digits; phonenumbers reads digits of every script, hence Unicode \d) and no address can
    # be in them, and their detectors (libphonenumber above all) are skipped.
    digits = (policy.ibans or policy.cards or policy.phones) and _ANY_DIGIT.search(text)
    if policy.emails and "@" in text:
        detectors.append(("email", detectors_.email_spans))
    if policy.ibans and digits:
        detectors.append(("iban", detectors_.iban_spans))
    if policy.cards and digits:
        detectors.append(("card", detectors_.card_spans))
    if policy.phones and digits:
        regions = policy.regions()
        detectors.append(("phone", lambda t: detectors_.phone_spans(t, regions)))
    for pattern in policy._compiled:
        detectors.append(("custom", lambda t, p=pattern: _regex_spans(p, t)))  # type: ignore[misc]
    for kind, detect in detectors:
        claimed: list[tuple[int, int]] = []
        for start, end in sorted(set(detect(view))):
            if start == end or (claimed and start < claimed[-1][1]):
                continue
            if _BLANK in view[start:end]:
                continue  # reaches into text an earlier detector claimed
            claimed.append((start, end))
        for start, end in claimed:
            found.append((start, end, kind))
            view = view[:start] + _BLANK * (end - start) + view[end:]
    return sorted(found)


def redact(policy: RedactionPolicy, text: str) -> Redacted:
    """Mask what the policy names; ``counts`` says how many of each enabled kind."""
    kinds = policy.kinds()
    if not kinds:
        return Redacted(text, None)
    counts = dict.fromkeys(kinds, 0)
    pieces: list[str] = []
    position = 0
    for start, end, kind in find(policy, text):
        pieces.append(text[position:start])
        pieces.append(mask(kind))
        position = end
        counts[kind] += 1
    pieces.append(text[position:])
    return Redacted("".join(pieces), counts)


# Joins many short texts for one pass (a mirrored page's text nodes): line breaks around a
# Unicode noncharacter, which no detector takes as part of a value. (Not _BLANK: a match that
# reaches into it would be skipped, not noticed.)
_BATCH_SEPARATOR = "\n\ufdd0\n"


def redact_many(policy: RedactionPolicy, texts: list[str]) -> list[str]:
    """``redact(policy, t).text`` for each of ``texts``, in one pass over them joined: a page of
    thousands of short texts costs one scan, not thousands. If a match crossed a separator (a
    custom pattern that spans lines), each text is redacted on its own instead, so the result
    is never less masked than one by one."""
    if not texts or not policy.kinds():
        return list(texts)
    joined = redact(policy, _BATCH_SEPARATOR.join(texts)).text.split(_BATCH_SEPARATOR)
    if len(joined) == len(texts):
        return joined
    return [redact(policy, text).text for text in texts]


def _regex_spans(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    for match in pattern.finditer(text):
        yield match.span()


# -- custom patterns, checked when an admin saves them ----------------------------------------


def check_custom_pattern(pattern: Any, *, field: str) -> re.Pattern[str]:
    """Compile an admin's pattern, or raise ``ValidationFailed`` naming ``field``."""
    if not isinstance(pattern, str) or not pattern:
        raise ValidationFailed("Each pattern is a non-empty string.", field=field)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValidationFailed(
            f"Patterns are limited to {MAX_PATTERN_CHARS} characters.", field=field
        )
    try:
        compiled = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValidationFailed(
            f"The pattern is not a valid regular expression ({_reason(exc)}).", field=field
        ) from exc
    if compiled.fullmatch("") is not None:
        raise ValidationFailed(
            "The pattern matches empty text; make it match something.", field=field
        )
    problem = _risky(parsed, inside_repeat=False)
    if problem:
        raise ValidationFailed(
            f"The pattern could take exponential time on some messages ({problem}); simplify it.",
            field=field,
        )
    return compiled


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, re.error) else type(exc).__name__


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)


def _risky(parsed: Any, *, inside_repeat: bool) -> str | None:
    for op, av in parsed:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return "a backreference"
        if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
            _low, high, sub = av
            repeats = high is sre_constants.MAXREPEAT or high > 1
            if repeats and inside_repeat:
                return "a repetition inside a repetition"
            found = _risky(sub, inside_repeat=inside_repeat or repeats)
        else:
            found = _risky_children(op, av, inside_repeat)
        if found:
            return found
    return None


def _risky_children(op: Any, av: Any, inside_repeat: bool) -> str | None:
    children: list[Any] = []
    if op == sre_constants.SUBPATTERN:
        children = [av[-1]]
    elif op == sre_constants.BRANCH:
        children = list(av[1])
    elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        children = [av[1]]
    elif op == getattr(sre_constants, "ATOMIC_GROUP", None):
        children = [av]
    for child in children:
        if found := _risky(child, inside_repeat=inside_repeat):
            return found
    return None
