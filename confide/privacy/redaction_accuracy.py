"""Measured redaction accuracy: precision and recall per kind on a labelled corpus.

Why: an admin who turns redaction on should know how often it misses a card or masks an order
number, per kind and for *their* settings (which kinds, which phone regions), not a promise.
The corpus (``redaction_corpus.txt`` beside this module) has one message per line; what must be
masked is labelled ``[[kind:text]]``, and about half the lines are must-not-mask text (order
and tracking numbers, dates, times, prices, versions, postcodes, ISBNs, timestamps, non-Luhn
16-digit numbers). ``# regions: GB US ...`` names the regions whose national phone formats the
corpus uses; a workspace serving fewer regions sees a lower phone recall, which is the truth.

Scoring is exact: a detection counts for a kind only if its span and kind equal a label's.
A label found as another kind (a phone masked as a card) is a miss for its kind and a false
alarm for the other. Precision = found right / found; recall = found right / labelled; a kind
with nothing found (or nothing labelled) has precision (recall) 1.0 by convention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from confide.privacy.redaction import RedactionPolicy, find

CORPUS_PATH = Path(__file__).with_name("redaction_corpus.txt")
MEASURED_KINDS = ("card", "iban", "email", "phone")
_LABEL = re.compile(r"\[\[(card|iban|email|phone):(.+?)\]\]")


@dataclass(frozen=True)
class CorpusLine:
    text: str
    labels: frozenset[tuple[int, int, str]]  # (start, end, kind) in ``text``


@dataclass(frozen=True)
class KindScore:
    kind: str
    labelled: int
    found: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else 1.0


@dataclass(frozen=True)
class Corpus:
    lines: tuple[CorpusLine, ...]
    regions: tuple[str, ...]

    @property
    def must_not_mask(self) -> int:
        return sum(1 for line in self.lines if not line.labels)


def parse_line(raw: str) -> CorpusLine:
    """``"pay [[card:4111 1111 1111 1111]] now"`` -> the text and its labelled spans."""
    text, labels, position = "", set(), 0
    for match in _LABEL.finditer(raw):
        text += raw[position : match.start()]
        labels.add((len(text), len(text) + len(match.group(2)), match.group(1)))
        text += match.group(2)
        position = match.end()
    return CorpusLine(text + raw[position:], frozenset(labels))


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """The corpus shipped with Confide. Raises ``OSError`` if the file is missing."""
    lines: list[CorpusLine] = []
    regions: tuple[str, ...] = ()
    for raw in CORPUS_PATH.read_text(encoding="utf-8").splitlines():
        if raw.startswith("# regions:"):
            regions = tuple(raw.removeprefix("# regions:").split())
        elif raw.strip() and not raw.startswith("#"):
            lines.append(parse_line(raw))
    return Corpus(tuple(lines), regions)


def measure(policy: RedactionPolicy, corpus: Corpus | None = None) -> dict[str, KindScore]:
    """Score ``policy`` on the corpus, for each kind it enables among :data:`MEASURED_KINDS`.
    Custom patterns take part (they may claim text first) but are not scored."""
    corpus = corpus or load_corpus()
    kinds = [kind for kind in MEASURED_KINDS if kind in policy.kinds()]
    labelled = dict.fromkeys(kinds, 0)
    found = dict.fromkeys(kinds, 0)
    correct = dict.fromkeys(kinds, 0)
    for line in corpus.lines:
        detected = {span for span in find(policy, line.text) if span[2] in labelled}
        for _start, _end, kind in line.labels:
            if kind in labelled:
                labelled[kind] += 1
        for span in detected:
            found[span[2]] += 1
            if span in line.labels:
                correct[span[2]] += 1
    return {k: KindScore(k, labelled[k], found[k], correct[k]) for k in kinds}


@lru_cache(maxsize=64)
def measure_cached(policy: RedactionPolicy) -> dict[str, KindScore]:
    """:func:`measure` on the shipped corpus, remembered per policy (the settings page asks on
    every view; one measurement takes a fraction of a second)."""
    return measure(policy)


def misses(policy: RedactionPolicy, corpus: Corpus | None = None) -> list[str]:
    """Lines where the policy's detections differ from the labels, for a failing test to show."""
    corpus = corpus or load_corpus()
    kinds = set(policy.kinds())
    wrong = []
    for line in corpus.lines:
        detected = {span for span in find(policy, line.text) if span[2] in MEASURED_KINDS}
        expected = {span for span in line.labels if span[2] in kinds}
        if detected != expected:
            wrong.append(f"{line.text!r}: expected {sorted(expected)}, found {sorted(detected)}")
    return wrong
