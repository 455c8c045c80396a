"""Throughput of redaction against a plain regular-expression pass over the same text.

Value: messages/s through ``confide.privacy.redaction.redact`` with every kind on (cards, IBANs,
e-mails, phones for two regions) over the labelled corpus (``redaction_corpus.txt``: about half
the lines hold something to mask, half must stay as they are). Baseline: the same lines through
one ``re.sub`` per kind with the naive patterns a redactor without validation would use (digit
runs, IBAN shapes, ``x@y.z``), measured in the same run. The ratio is what validation (Luhn,
scheme prefixes, ISO 7064, libphonenumber) costs; the accuracy it buys is measured by
``tests/privacy/test_redaction_corpus.py``.
"""

from __future__ import annotations

import re
import time

from benchmarks.common import Result, sized
from confide.privacy.redaction import RedactionPolicy, redact
from confide.privacy.redaction_accuracy import load_corpus

ROUNDS = 5
GOAL_MESSAGES_PER_SECOND = 2000  # well above one node's message rate (see message_saturation)
NAIVE = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[redacted email]"),
    (re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?\b"), "[iban]"),
    (re.compile(r"\b(?:[0-9][ -]?){12,18}[0-9]\b"), "[redacted card]"),
    (re.compile(r"\+?[0-9][0-9 ().-]{7,}[0-9]"), "[redacted phone]"),
)


def _naive(text: str) -> str:
    for pattern, replacement in NAIVE:
        text = pattern.sub(replacement, text)
    return text


def _rate(texts: list[str], work: object) -> float:
    assert callable(work)
    started = time.perf_counter()
    for text in texts:
        work(text)
    return len(texts) / (time.perf_counter() - started)


async def run(quick: bool = False) -> Result:
    corpus = load_corpus()
    texts = [line.text for line in corpus.lines] * sized(10, 2, quick)
    policy = RedactionPolicy(phones=True, emails=True, phone_regions=("GB", "FR"))
    for text in texts[:50]:  # warm-up: metadata of both regions loaded, patterns compiled
        redact(policy, text)
    no_phones = RedactionPolicy(emails=True)
    best, baseline, without_phones = 0.0, 0.0, 0.0
    for _ in range(ROUNDS):  # alternating rounds, best of each: a load burst favours neither
        best = max(best, _rate(texts, lambda t: redact(policy, t)))
        baseline = max(baseline, _rate(texts, _naive))
        without_phones = max(without_phones, _rate(texts, lambda t: redact(no_phones, t)))
    return Result(
        name="redaction",
        value=round(best),
        unit="messages/s",
        baseline=round(baseline),
        baseline_name="one naive re.sub per kind over the same messages",
        ratio=round(best / baseline, 3),
        goal=f">= {GOAL_MESSAGES_PER_SECOND} messages/s on one core",
        goal_met=best >= GOAL_MESSAGES_PER_SECOND,
        notes="Every kind on, phones for GB and FR, over the labelled corpus.",
        details={
            "messages_per_round": len(texts),
            "rounds": ROUNDS,
            "without_phones_messages_per_second": round(without_phones),
        },
    )
