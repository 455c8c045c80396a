"""Key operations as recorded acts: rotation, key epochs, and finishing key destructions.

The keyring (``confide.crypto``) does the cryptography and knows nothing of the ledger or the
job queue; this module runs it as actions recorded in the platform's audit chain, and as jobs:

- ``advance_key_epoch`` (every minute; a no-op unless a workspace lost a key): after erasures,
  new KEKs under a new master-key epoch and the old master keys destroyed
  (``confide.crypto.epochs``), so no copy of the key store taken before can be opened with the
  keys that exist afterwards.
- ``retry_key_destruction`` (every five minutes): keys an erasure tombstoned before its commit
  (``confide.privacy.journal.record_erasure``) but that still exist, because the after-commit
  destruction failed or the process died before it ran, are destroyed now.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from confide.audit.ledger import record
from confide.crypto.epochs import EpochReport, advance_epoch
from confide.crypto.keyring import RotationReport
from confide.jobs.kinds import Batch, BatchResult, JobKind, register
from confide.privacy.key_cache import destroy_keys

if TYPE_CHECKING:
    from confide.runtime import Runtime

EPOCH_EVERY_SECONDS = 60
RETRY_EVERY_SECONDS = 300
# A tombstone younger than this may belong to an erasure whose unit is still committing.
RETRY_GRACE = timedelta(seconds=60)


async def do_rotate_keys(rt: Runtime) -> RotationReport:
    """New key-encryption key for every workspace, every data key re-wrapped under it (no
    data re-encrypted, readers keep working); recorded as ``keys.rotate`` once done."""
    report = await rt.keyring.rotate_all()
    details = {"workspaces": report.workspaces, "data_keys_rewrapped": report.data_keys_rewrapped}
    await record(rt, None, "keys.rotate", resource="keyring", details=details)
    return report


async def do_advance_key_epoch(rt: Runtime, *, force: bool = False) -> EpochReport:
    """Start a key epoch if keys were destroyed since the last one (``force``: anyway);
    recorded as ``keys.epoch`` when one started. Raises ``KeyStillPresent`` if an old master
    key could not be destroyed yet (nothing destroyed; the next run finishes it)."""
    report = await advance_epoch(rt.keyring, force=force)
    if report.advanced:
        details = {
            "workspaces_rotated": report.workspaces_rotated,
            "data_keys_rewrapped": report.data_keys_rewrapped,
            "keks_rewrapped": report.keks_rewrapped,
            "master_keys_destroyed": report.epochs_destroyed,
            "destruction_possible": report.destruction_possible,
        }
        await record(rt, None, "keys.epoch", resource="keyring", details=details)
    return report


async def retry_key_destruction(rt: Runtime, *, limit: int, grace: timedelta = RETRY_GRACE) -> int:
    """Destroy up to ``limit`` keys that were tombstoned at least ``grace`` ago but still
    exist, and tell every node to forget them. Returns how many keys were destroyed."""
    ids = await rt.keyring.store.tombstoned_but_present(limit, older_than=grace)
    if not ids:
        return 0
    return await destroy_keys(rt, [uuid.UUID(key_id) for key_id in ids])


async def _run_advance_key_epoch(batch: Batch) -> BatchResult:
    report = await do_advance_key_epoch(batch.rt)
    return BatchResult(items=report.workspaces_rotated, cursor=None, done=True)


async def _run_retry_key_destruction(batch: Batch) -> BatchResult:
    destroyed = await retry_key_destruction(batch.rt, limit=batch.size)
    return BatchResult(items=destroyed, cursor=None, done=destroyed < batch.size)


ADVANCE_KEY_EPOCH = register(
    JobKind(
        name="advance_key_epoch",
        description="After erasures: new key epoch, old master keys destroyed.",
        run_batch=_run_advance_key_epoch,
        every_seconds=EPOCH_EVERY_SECONDS,
        batch_size=1,
        in_transaction=False,
    )
)
RETRY_KEY_DESTRUCTION = register(
    JobKind(
        name="retry_key_destruction",
        description="Destroy keys whose after-commit destruction failed (from the tombstones).",
        run_batch=_run_retry_key_destruction,
        every_seconds=RETRY_EVERY_SECONDS,
        batch_size=500,
        in_transaction=False,
    )
)
