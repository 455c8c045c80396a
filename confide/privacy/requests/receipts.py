"""Receipts: what was done for a data subject's request, signed so anyone can check it.

A receipt says which request (case id, kind), when it arrived and was completed, what was done
and to which categories of data, with counts, and nothing that identifies the person. It is
signed with the workspace's Ed25519 key (the one audit checkpoints and consent proofs use,
``confide.audit.checkpoints.workspace_signing_key``) over canonical JSON
(``confide.crypto.signing``), and carries the public key and the recipe, so it verifies without
Confide: ``confide dsr verify-receipt FILE`` or any Ed25519 library. The workspace publishes its
key at ``GET /privacy/{workspace}/public-key`` to compare with.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confide.audit.chain import iso_time
from confide.audit.checkpoints import workspace_signing_key
from confide.crypto.signing import canonical_json
from confide.privacy.requests.models import DsrCase

if TYPE_CHECKING:
    from confide.runtime import Runtime

RECEIPT_FORMAT = "confide-dsr-receipt/1"
VERIFICATION_RECIPE = (
    "1. Serialise `receipt` as JSON with keys sorted, separators ',' and ':', no whitespace and "
    "non-ASCII characters escaped (Python: json.dumps(receipt, sort_keys=True, "
    "separators=(',', ':'), ensure_ascii=True)), encoded as UTF-8. "
    "2. Verify `signature` (base64) over those bytes with the Ed25519 public key `public_key` "
    "(base64 of the raw 32 bytes). "
    "3. Compare `public_key` with the one the workspace publishes at "
    "/privacy/<workspace>/public-key."
)


async def public_key_b64(rt: Runtime, workspace_id: uuid.UUID) -> str:
    """The workspace's Ed25519 public key, base64 of the raw 32 bytes."""
    key = await workspace_signing_key(rt, workspace_id)
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


async def sign_receipt(
    rt: Runtime,
    case: DsrCase,
    *,
    outcome: str,
    actions: list[str],
    categories: list[str],
    counts: Mapping[str, int],
    reason: str | None = None,
) -> dict[str, Any]:
    """The signed receipt of a completed (or rejected) case; ``case.completed_at`` is set."""
    assert case.completed_at is not None
    receipt: dict[str, Any] = {
        "purpose": "confide-dsr-receipt",
        "v": 1,
        "workspace_id": str(case.workspace_id),
        "case_id": str(case.id),
        "kind": case.kind,
        "outcome": outcome,
        "received_at": iso_time(case.received_at),
        "completed_at": iso_time(case.completed_at),
        "actions": sorted(actions),
        "categories": sorted(categories),
        "counts": {k: int(v) for k, v in sorted(counts.items())},
        "reason": reason,
    }
    key = await workspace_signing_key(rt, case.workspace_id)
    return {
        "format": RECEIPT_FORMAT,
        "receipt": receipt,
        "algorithm": "Ed25519",
        "signature": base64.b64encode(key.sign(canonical_json(receipt))).decode(),
        "public_key": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        "verification": VERIFICATION_RECIPE,
    }


def verify_receipt(document: Mapping[str, Any], expected_public_key: str | None = None) -> bool:
    """Check a receipt as its recipe says, with no secret and no database; with
    ``expected_public_key`` (base64), also that it was signed by that key."""
    try:
        if document["format"] != RECEIPT_FORMAT:
            return False
        public_key = document["public_key"]
        if expected_public_key is not None and public_key != expected_public_key:
            return False
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(
            base64.b64decode(document["signature"], validate=True),
            canonical_json(document["receipt"]),
        )
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def receipt_text(workspace_name: str, document: Mapping[str, Any]) -> str:
    """The mail that carries a receipt: a plain summary and the signed JSON."""
    receipt = document["receipt"]
    counts = ", ".join(f"{k}: {v}" for k, v in receipt["counts"].items()) or "none"
    return (
        f"{workspace_name} has answered your {receipt['kind']} request "
        f"(reference {receipt['case_id']}): {receipt['outcome']}.\n\n"
        f"What was done: {', '.join(receipt['actions']) or 'nothing'}\n"
        f"Counts: {counts}\n"
        + (f"Reason: {receipt['reason']}\n" if receipt.get("reason") else "")
        + "\nThe signed receipt follows; anyone can check it with `confide dsr verify-receipt` "
        "or any Ed25519 library (the recipe is inside).\n\n"
        + json.dumps(document, indent=2, sort_keys=True)
        + "\n"
    )
