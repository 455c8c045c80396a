"""Key epochs: crypto-shredding that holds against copies of the key store (issue 11).

Destroying a data key deletes its row, but on PostgreSQL the row lives on in the WAL, in
``pg_dump`` files and in key-store backups until they are recycled, and the live master key and
workspace KEK would still unwrap it. An epoch closes that: after keys were destroyed,

1. the master key provider starts a new epoch (a new master key in ``master.key``);
2. every workspace that lost a key gets a new KEK, wrapped under the new epoch, and its live
   data keys (and archived ones, under a new archive KEK) are re-wrapped; the old KEK rows go;
3. every other workspace's KEKs keep their value and are re-wrapped under the new epoch (no data
   key of theirs was destroyed, so an older copy of their keys reveals nothing erased);
4. once no KEK is wrapped by an older epoch, the provider destroys the older master keys (the
   file is rewritten and the old bytes overwritten: destruction outside the database).

Afterwards, a copy of the key store from before holds the destroyed data key wrapped under a
KEK that exists nowhere but in that copy, itself wrapped under a master key that exists
nowhere at all. Runs as the ``keys.advance_epoch`` job (``confide.privacy.keys``), every minute
when something is pending; idempotent: a run that dies part-way is finished by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

from confide.core.errors import KeyStillPresent
from confide.crypto.keyring import Keyring


@dataclass(frozen=True)
class EpochReport:
    """``advanced``: a new epoch started; ``workspaces_rotated``: new KEKs;
    ``data_keys_rewrapped``: under them; ``keks_rewrapped``: same KEK, new epoch;
    ``epochs_destroyed``: old master keys destroyed; ``destruction_possible``: False when the
    master key cannot be destroyed (``CONFIDE_MASTER_KEY``), then only KEKs rotate."""

    advanced: bool
    workspaces_rotated: int = 0
    data_keys_rewrapped: int = 0
    keks_rewrapped: int = 0
    epochs_destroyed: int = 0
    destruction_possible: bool = True


async def advance_epoch(keyring: Keyring, *, force: bool = False) -> EpochReport:
    """Start a new key epoch if a workspace lost a key since the last one (or ``force``), as
    described in the module doc. Raises ``KeyStillPresent`` if a KEK is still wrapped by an old
    master key when it is time to destroy them (nothing is destroyed then; run again)."""
    store, provider = keyring.store, keyring.provider
    destructible = provider.can_destroy_epochs
    pending = await store.pending_epochs()
    stale = await store.keks_wrapped_by_others(provider.key_id) if destructible else 0
    if not pending and not stale and not force:
        return EpochReport(advanced=False, destruction_possible=destructible)
    if destructible:
        provider.advance_epoch()
    rotated = rewrapped = keks = 0
    for workspace_id in await store.all_workspace_ids():
        if workspace_id in pending:
            rewrapped += await keyring.rotate_workspace(workspace_id)
            rotated += 1
        if destructible:
            keks += await keyring.rewrap_keks(workspace_id, provider, only_stale=True)
    destroyed = 0
    if destructible:
        left = await store.keks_wrapped_by_others(provider.key_id)
        if left:
            raise KeyStillPresent(f"{left} key(s) still wrapped by an old master key; run again.")
        destroyed = provider.destroy_old_epochs()
    await store.clear_pending_epochs(pending)
    keyring.forget()
    return EpochReport(True, rotated, rewrapped, keks, destroyed, destructible)
