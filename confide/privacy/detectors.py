"""Detectors for redaction: where in a text the e-mail addresses, IBANs, card numbers and phone
numbers are, as ``(start, end)`` spans of the original text. ``confide.privacy.redaction``
decides which run and masks what they find.

Why each rule, from the public bug reports and the labelled corpus
(``confide/privacy/redaction_corpus.txt``, measured by ``confide.privacy.redaction_accuracy``):

- **Cards.** A digit run is cut into its groups (single spaces or dashes between them) and every
  window of whole groups is tried, longest first, so a card next to other digits
  (``4471 4111 1111 1111 1111``, ``4111 1111 1111 1111 12/25``) is still found. A window is a
  card only if the Luhn check holds (``stdnum.luhn``), its issuer prefix and length belong to a
  card scheme (:data:`CARD_SCHEMES`, from the schemes' published IIN ranges) and, when it is
  written in groups, the grouping is one cards are printed with (4-4-4-4[-3], 4-6-5, 4-6-4).
  That is what keeps a 13-digit millisecond timestamp, an ISBN or a parcel number unmasked:
  one random number in ten passes Luhn, far fewer also look like a card.
- **IBANs.** Every place a country code and two check digits start a word is tried, with the
  groups that follow (spaces or dashes); the longest run of whole groups whose ISO 7064 checksum
  and national format hold (``stdnum.iban``) is the IBAN, and the search goes on *after it*, so
  the second IBAN of a message is found too.
- **E-mail addresses.** A pragmatic RFC 5322 subset: dot-separated local parts that may contain
  an apostrophe (``o'connor``), quoted local parts (``"jane doe"@...``), and internationalised
  domains in Unicode (``example.рф``) or ACE form (``example.xn--p1ai``, RFC 5890).
- **Phones.** ``phonenumbers.PhoneNumberMatcher`` (validity leniency) once per region the
  workspace serves, so national formats of each are recognised; ``+<country>`` numbers and, with
  a region whose international prefix is ``00``, ``0044 ...`` numbers are recognised as phones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import phonenumbers
from stdnum import iban, luhn

Span = tuple[int, int]

_LOCAL_CHARS = r"[\w+%!#$*~-]"
EMAIL_PATTERN = re.compile(
    r"(?<![\w.'+%-])"
    rf'(?:"[^"\r\n@]{{1,64}}"|{_LOCAL_CHARS}+(?:[.\']{_LOCAL_CHARS}+)*)'
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"
    r"(?:xn--[a-zA-Z0-9-]{2,59}|[^\W\d_]{2,63})(?![\w-])"
)
# Retina image names (``icon@2x.png``) look like addresses; no top-level domain is an image type.
_NOT_A_DOMAIN_END = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?)$", re.IGNORECASE)

_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}")
_IBAN_GROUPS = re.compile(r"[A-Za-z0-9]+(?:[ -][A-Za-z0-9]+)*")
IBAN_MIN_CHARS, IBAN_MAX_CHARS = 15, 34

_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z+])[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z])")
CARD_MIN_DIGITS, CARD_MAX_DIGITS = 13, 19
# (IIN prefix range low, high, allowed lengths) per scheme; a prefix is compared on as many
# digits as the bounds have. Sources: the schemes' published IIN ranges (ISO/IEC 7812).
CARD_SCHEMES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),
    ("300", "305", frozenset({14, 16, 17, 18, 19})),  # Diners Club
    ("36", "36", frozenset({14, 16, 17, 18, 19})),
    ("38", "39", frozenset({14, 16, 17, 18, 19})),
    ("3528", "3589", frozenset({16, 17, 18, 19})),  # JCB
    ("6011", "6011", frozenset({16, 17, 18, 19})),  # Discover
    ("644", "649", frozenset({16, 17, 18, 19})),
    ("65", "65", frozenset({16, 17, 18, 19})),
    ("62", "62", frozenset({16, 17, 18, 19})),  # UnionPay
    ("2200", "2204", frozenset({16, 17, 18, 19})),  # Mir
    ("50", "50", frozenset({13, 16, 17, 18, 19})),  # Maestro
    ("56", "58", frozenset({13, 16, 17, 18, 19})),
    ("639", "639", frozenset({13, 16, 17, 18, 19})),
    ("67", "67", frozenset({13, 16, 17, 18, 19})),
    ("60", "60", frozenset({16})),  # RuPay
    ("81", "82", frozenset({16})),
)


def email_spans(text: str) -> Iterator[Span]:
    for match in EMAIL_PATTERN.finditer(text):
        if not _NOT_A_DOMAIN_END.search(match.group()):
            yield match.span()


def iban_spans(text: str) -> Iterator[Span]:
    position = 0
    while (start := _IBAN_START.search(text, position)) is not None:
        found = _iban_at(text, start.start())
        if found is None:
            position = start.start() + 1
            continue
        yield found
        position = found[1]


def _iban_at(text: str, start: int) -> Span | None:
    run = _IBAN_GROUPS.match(text, start)
    if run is None:
        return None
    groups = [(m.start(), m.end()) for m in re.finditer(r"[A-Za-z0-9]+", run.group())]
    compact = ""
    candidates: list[tuple[str, int]] = []
    for group_start, group_end in groups:
        compact += run.group()[group_start:group_end]
        if len(compact) > IBAN_MAX_CHARS:
            break
        candidates.append((compact, start + group_end))
    for value, end in reversed(candidates):
        if len(value) >= IBAN_MIN_CHARS and iban.is_valid(value):
            return start, end
    return None


def card_spans(text: str) -> Iterator[Span]:
    for run in _DIGIT_RUN.finditer(text):
        yield from _cards_in_run(run.start(), run.group())


def _cards_in_run(offset: int, run: str) -> Iterator[Span]:
    groups = [(m.start(), m.end()) for m in re.finditer(r"[0-9]+", run)]
    windows: list[tuple[int, int, int]] = []  # (digits, first group, last group)
    for first in range(len(groups)):
        digits = 0
        for last in range(first, len(groups)):
            digits += groups[last][1] - groups[last][0]
            if digits > CARD_MAX_DIGITS:
                break
            if digits >= CARD_MIN_DIGITS:
                windows.append((digits, first, last))
    taken: list[tuple[int, int]] = []
    for _digits, first, last in sorted(windows, key=lambda w: (-w[0], w[1])):
        if any(not (last < a or first > b) for a, b in taken):
            continue
        lengths = [end - start for start, end in groups[first : last + 1]]
        number = "".join(run[start:end] for start, end in groups[first : last + 1])
        if is_card_number(number) and _card_like_grouping(lengths):
            taken.append((first, last))
            yield offset + groups[first][0], offset + groups[last][1]


def is_card_number(digits: str) -> bool:
    """Luhn-valid, and the issuer prefix and length of a card scheme in :data:`CARD_SCHEMES`."""
    if not (CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS) or not luhn.is_valid(digits):
        return False
    for low, high, lengths in CARD_SCHEMES:
        if len(digits) in lengths and low <= digits[: len(low)] <= high:
            return True
    return False


def _card_like_grouping(lengths: list[int]) -> bool:
    if len(lengths) == 1:
        return True
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def phone_spans(text: str, regions: Iterable[str | None]) -> Iterator[Span]:
    seen: set[Span] = set()
    for region in regions:
        trunk = _national_prefix(region)
        matcher = phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING
        )
        for match in matcher:
            span = (match.start, match.end)
            if span in seen or not _written_like_a_phone(match.raw_string, trunk):
                continue
            seen.add(span)
            yield span


def _national_prefix(region: str | None) -> str | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    return metadata.national_prefix if metadata else None


def _written_like_a_phone(raw: str, trunk: str | None) -> bool:
    # A bare run of digits is an order number, a timestamp or a parcel number far more often
    # than a phone: accept it only with an international prefix or the region's trunk prefix.
    if not raw.isdigit():
        return True
    return raw.startswith("00") or bool(trunk and raw.startswith(trunk))
