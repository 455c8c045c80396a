"""Redaction: mask payment cards, IBANs, phone numbers, e-mail addresses and the workspace's own
patterns in a message *before* it is stored.

Why here, before the vault: a number a visitor pastes into a chat is data the controller never
asked for (GDPR Art. 5(1)(c), minimisation) and, for cards, data it must not keep (PCI DSS).
Encrypting it would still be keeping it; masking it before the text reaches
``confide.privacy.vault`` means it exists only in the request that carried it. The stored
message, the event every socket receives and the sender's acknowledgement all carry the masked
text, so what the sender sees is what was kept. The message records *what* was masked as counts
per kind (``messages.redactions``), never the masked text; nothing here logs a value.

Detection, in this order (earlier masks cannot be re-matched by later detectors):
1. e-mail addresses (a pragmatic pattern: local part, ``@``, dotted domain);
2. IBANs: country code, check digits and 11-30 alphanumerics, kept only if the ISO 7064
   checksum holds (``stdnum.iban``), so an order reference that looks similar stays;
3. payment cards: runs of 13-19 digits, single spaces or dashes allowed between them, masked
   only if the Luhn check holds (``stdnum.luhn``): a wrong number is not a card;
4. phone numbers: ``phonenumbers.PhoneNumberMatcher`` with the workspace's default region
   (numbers without a country code are recognised only when one is set);
5. the admin's custom regular expressions.

Custom patterns run on untrusted text with Python's backtracking engine, which has no timeout.
They are therefore checked when saved (:func:`check_custom_pattern`): at most
``MAX_PATTERN_CHARS`` long, must compile, must not match the empty string, and must contain no
backreference and no repetition nested inside another repetition (``(a+)+``, ``(\\w*)*``), the
shape behind catastrophic backtracking. Messages are themselves bounded in length.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from stdnum import iban, luhn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

from confide.core.errors import ValidationFailed

MAX_PATTERN_CHARS = 200
KINDS = ("email", "iban", "card", "phone", "custom")

EMAIL_PATTERN = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,34}")
CARD_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
IBAN_MIN_CHARS, IBAN_MAX_CHARS = 15, 34


@dataclass(frozen=True)
class RedactionPolicy:
    cards: bool = True
    ibans: bool = True
    phones: bool = False
    emails: bool = False
    phone_region: str | None = None
    patterns: tuple[str, ...] = ()
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
            patterns=patterns,
            _compiled=tuple(re.compile(p) for p in patterns),
        )

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


def mask(kind: str) -> str:
    return f"[redacted {kind}]"


def redact(policy: RedactionPolicy, text: str) -> Redacted:
    kinds = policy.kinds()
    if not kinds:
        return Redacted(text, None)
    counts = dict.fromkeys(kinds, 0)
    if policy.emails:
        text, counts["email"] = _replace(text, _regex_spans(EMAIL_PATTERN, text), "email")
    if policy.ibans:
        text, counts["iban"] = _replace(text, _iban_spans(text), "iban")
    if policy.cards:
        text, counts["card"] = _replace(text, _card_spans(text), "card")
    if policy.phones:
        text, counts["phone"] = _replace(text, _phone_spans(text, policy.phone_region), "phone")
    for pattern in policy._compiled:
        text, found = _replace(text, _regex_spans(pattern, text), "custom")
        counts["custom"] += found
    return Redacted(text, counts)


def _replace(text: str, spans: Iterable[tuple[int, int]], kind: str) -> tuple[str, int]:
    ordered = sorted(set(spans))
    pieces: list[str] = []
    position = count = 0
    for start, end in ordered:
        if start < position or start == end:
            continue  # overlapping or empty: the earlier span already covers it
        pieces.append(text[position:start])
        pieces.append(mask(kind))
        position = end
        count += 1
    pieces.append(text[position:])
    return "".join(pieces), count


def _regex_spans(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    for match in pattern.finditer(text):
        yield match.span()


def _iban_spans(text: str) -> Iterator[tuple[int, int]]:
    # The candidate may run on into the next word ("... 7654 32 please"): keep the longest
    # prefix of whole space-separated groups whose checksum holds.
    for match in IBAN_CANDIDATE.finditer(text):
        groups = match.group().split(" ")
        for end in range(len(groups), 0, -1):
            compact = "".join(groups[:end])
            if IBAN_MIN_CHARS <= len(compact) <= IBAN_MAX_CHARS and iban.is_valid(compact):
                yield match.start(), match.start() + len(" ".join(groups[:end]))
                break


def _card_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            yield match.span()


def _phone_spans(text: str, region: str | None) -> Iterator[tuple[int, int]]:
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        yield match.start, match.end


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
