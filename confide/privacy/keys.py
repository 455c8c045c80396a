"""Key operations as recorded acts: rotation of every workspace's key-encryption key.

The keyring (``confide.crypto``) does the cryptography and knows nothing of the ledger; this
module is the action that runs it and records it in the platform's audit chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confide.audit.ledger import record
from confide.crypto.keyring import RotationReport

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def do_rotate_keys(rt: Runtime) -> RotationReport:
    """New key-encryption key for every workspace, every data key re-wrapped under it (no
    data re-encrypted, readers keep working); recorded as ``keys.rotate`` once done."""
    report = await rt.keyring.rotate_all()
    details = {"workspaces": report.workspaces, "data_keys_rewrapped": report.data_keys_rewrapped}
    await record(rt, None, "keys.rotate", resource="keyring", details=details)
    return report
