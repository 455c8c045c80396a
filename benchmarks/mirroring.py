"""Cost of relaying a mirrored page: rebuilding and redacting a snapshot on the server.

Value: milliseconds to pass one snapshot of a busy page, as large as the widget sends (its
budget is 180,000 characters; the socket refuses frames over 256 KiB): nested elements with
attributes, shop text, a fifth of the texts holding a card number, every row a price through
``confide.realtime.mirroring.clean_frame`` with the default policy (cards and IBANs), i.e. the
allow-list rebuild plus the redaction of every text. Baseline: ``json.loads`` of the same frame,
which the socket does for every frame anyway, measured in the same run. The goal keeps a
snapshot well inside what a visitor's page change costs the browser.
"""

from __future__ import annotations

import json
import time
from typing import Any

from benchmarks.common import Result, sized
from confide.privacy.redaction import RedactionPolicy
from confide.realtime.mirroring import clean_frame

ROUNDS = 5
GOAL_MS = 100.0
TEXTS = (
    "Free returns within 30 days.",
    "Linen throw, natural, 140 x 200 cm",
    "Order 2026-11-30 shipped to Anna Example",
    "Card on file 4111 1111 1111 1111",
    "Questions? Our team answers in the chat.",
)


def _page(nodes: int) -> dict[str, Any]:
    next_id = iter(range(2, nodes + 2))
    rows = []
    for index in range(nodes // 5):  # each row: li > (a > text, span > text) = 5 nodes
        rows.append(
            {
                "i": next(next_id),
                "t": "li",
                "a": {"class": "product", "data-x": "dropped", "onclick": "dropped()"},
                "c": [
                    {"i": next(next_id), "t": "a", "a": {"href": "/p", "class": "name"},
                     "c": [{"i": next(next_id), "x": TEXTS[index % len(TEXTS)]}]},
                    {"i": next(next_id), "t": "span", "a": {"class": "price"},
                     "c": [{"i": next(next_id), "x": f"€{index % 300}"}]},
                ],
            }
        )  # fmt: skip
    return {
        "type": "mirror",
        "kind": "snapshot",
        "url": "https://shop.example/catalogue",
        "title": "Catalogue",
        "viewport": {"w": 1280, "h": 800},
        "tree": {"i": 1, "t": "body", "a": {}, "c": [{"i": 10**9, "t": "ul", "c": rows}]},
    }


def _best_ms(work: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


async def run(quick: bool = False) -> Result:
    nodes = sized(3000, 1000, quick)
    frame = _page(nodes)
    text = json.dumps(frame)
    assert len(text) < 256 * 1024, "larger than a socket frame: not a page the relay could get"
    policy = RedactionPolicy()
    clean_frame(policy, frame)  # warm-up
    value = _best_ms(lambda: clean_frame(policy, frame), ROUNDS)
    baseline = _best_ms(lambda: json.loads(text), ROUNDS)
    return Result(
        name="mirroring",
        value=round(value, 2),
        unit="ms per snapshot",
        baseline=round(baseline, 2),
        baseline_name="json.loads of the same frame (done for every frame anyway)",
        ratio=round(value / baseline, 1),
        goal=f"<= {GOAL_MS:.0f} ms for a {nodes}-node page",
        goal_met=value <= GOAL_MS,
        notes=f"{nodes} nodes, {len(text)} characters, default policy (cards, IBANs).",
        details={"nodes": nodes, "frame_chars": len(text), "rounds": ROUNDS},
    )
