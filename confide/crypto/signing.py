"""Canonical JSON: the one byte form that Confide hashes and signs.

Audit events are hashed, and audit checkpoints, consent proofs and erasure receipts are signed
(Ed25519), over this form: keys sorted, no whitespace, ASCII only, so any verifier in any
language that re-encodes the same data gets the same bytes (the idea of RFC 8785, restricted
to the strings, integers, booleans and nulls these documents hold).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """``data`` as canonical JSON bytes (sorted keys, ``,``/``:`` separators, ASCII)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
