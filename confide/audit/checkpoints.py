"""Signed checkpoints: the head of an audit chain, signed with the workspace's Ed25519 key.

Why: anyone who can write to the database can edit a record *and* recompute every hash after
it; the chain alone cannot tell. A checkpoint signs ``(chain, seq, head hash, time)``; exported
(``confide audit export-checkpoints``) and kept somewhere else (a ticket, an e-mail to the DPO,
another system's log), it pins every record up to that ``seq``: a rewritten chain no longer
matches it, and a new signature cannot be made without the private key.

The key: one Ed25519 pair per chain, generated on first use. The private key exists only in the
key store (``signing_keys``), sealed by the keyring under a data key of the chain (a uuid5 of
``audit-signing:<chain>``), so KEK rotation and master-key re-wrapping cover it and a database
backup carries none of it. The public key is stored in clear beside it and copied into every
checkpoint and export, so verification needs no secret.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from confide.audit.chain import canonical_json, chain_id, chain_key_id, chain_query, iso_time
from confide.audit.models import AuditCheckpoint, AuditEvent
from confide.core.clock import utcnow

if TYPE_CHECKING:
    from confide.runtime import Runtime

EXPORT_FORMAT = "confide-audit-checkpoints/1"


@dataclass(frozen=True)
class SignedHead:
    """A checkpoint as stored or exported: everything needed to check it, nothing secret."""

    workspace_id: str | None
    seq: int
    head_hash: str
    at: str
    signature: str  # base64
    public_key: str  # base64

    def message(self) -> bytes:
        return checkpoint_message(self.workspace_id, self.seq, self.head_hash, self.at)

    def signature_valid(self) -> bool:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
            key.verify(base64.b64decode(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def of(cls, row: AuditCheckpoint) -> SignedHead:
        return cls(
            workspace_id=str(row.workspace_id) if row.workspace_id else None,
            seq=row.seq,
            head_hash=row.head_hash,
            at=iso_time(row.at),
            signature=row.signature,
            public_key=row.public_key,
        )


def checkpoint_message(workspace_id: str | None, seq: int, head_hash: str, at: str) -> bytes:
    return canonical_json(
        {
            "purpose": "confide-audit-checkpoint",
            "v": 1,
            "workspace_id": workspace_id,
            "seq": seq,
            "head_hash": head_hash,
            "at": at,
        }
    )


def _owner(workspace_id: uuid.UUID | None) -> str:
    return f"audit:{chain_id(workspace_id)}"


def _aad(workspace_id: uuid.UUID | None) -> str:
    return f"signing_keys:{_owner(workspace_id)}"


async def _signing_key(rt: Runtime, workspace_id: uuid.UUID | None) -> Ed25519PrivateKey:
    store = rt.keyring.store
    key_id = chain_key_id(workspace_id, "signing")
    stored = await store.signing_key(_owner(workspace_id))
    if stored is None:
        fresh = Ed25519PrivateKey.generate()
        sealed = await rt.keyring.encrypt(
            workspace_id,
            key_id,
            base64.b64encode(fresh.private_bytes_raw()).decode(),
            _aad(workspace_id),
        )
        # Compare-and-set: if another node stored a key first, we use (and unseal) that one.
        stored = await store.add_signing_key(
            _owner(workspace_id), fresh.public_key().public_bytes_raw(), sealed
        )
    sealed_private_key = stored.sealed_private_key
    raw = await rt.keyring.decrypt(workspace_id, key_id, sealed_private_key, _aad(workspace_id))
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw))


async def workspace_signing_key(rt: Runtime, workspace_id: uuid.UUID | None) -> Ed25519PrivateKey:
    """The chain's key, for the workspace's other signed records (consent proofs). Every signed
    message names its purpose first, so a signature of one kind never verifies as another."""
    return await _signing_key(rt, workspace_id)


async def trusted_public_key(rt: Runtime, workspace_id: uuid.UUID | None) -> str | None:
    """The chain's public key from the key store (base64), or None if it never signed."""
    stored = await rt.keyring.store.signing_key(_owner(workspace_id))
    return base64.b64encode(stored.public_key).decode() if stored else None


async def create_checkpoint(rt: Runtime, workspace_id: uuid.UUID | None) -> SignedHead | None:
    """Sign the chain's current last record; None if the chain is empty."""
    async with rt.db.session() as session:
        # uq_audit_events_workspace_seq, read backwards
        last = await session.scalar(
            chain_query(workspace_id).order_by(AuditEvent.seq.desc()).limit(1)
        )
    if last is None:
        return None
    key = await _signing_key(rt, workspace_id)
    at: datetime = utcnow()
    message = checkpoint_message(
        str(workspace_id) if workspace_id else None, last.seq, last.hash, iso_time(at)
    )
    row = AuditCheckpoint(
        workspace_id=workspace_id,
        seq=last.seq,
        head_hash=last.hash,
        signature=base64.b64encode(key.sign(message)).decode(),
        public_key=base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        at=at,
    )
    async with rt.db.transaction() as session:
        session.add(row)
    return SignedHead.of(row)


async def stored_checkpoints(rt: Runtime, workspace_id: uuid.UUID | None) -> list[SignedHead]:
    # ix_audit_checkpoints_workspace_seq
    query = select(AuditCheckpoint)
    if workspace_id is None:
        query = query.where(AuditCheckpoint.workspace_id.is_(None))
    else:
        query = query.where(AuditCheckpoint.workspace_id == workspace_id)
    async with rt.db.session() as session:
        rows = (await session.scalars(query.order_by(AuditCheckpoint.seq))).all()
    return [SignedHead.of(row) for row in rows]


async def export_checkpoints(rt: Runtime) -> dict[str, Any]:
    """Every checkpoint of every chain, as a JSON document to keep outside Confide."""
    async with rt.db.session() as session:
        rows = (
            await session.scalars(
                select(AuditCheckpoint).order_by(AuditCheckpoint.workspace_id, AuditCheckpoint.seq)
            )
        ).all()
    return {
        "format": EXPORT_FORMAT,
        "exported_at": iso_time(utcnow()),
        "checkpoints": [asdict(SignedHead.of(row)) for row in rows],
    }


def load_exported(text: str) -> list[SignedHead]:
    """Parse an export; raises ValueError if it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValueError(f"Not a {EXPORT_FORMAT} document.")
    try:
        return [SignedHead(**item) for item in data["checkpoints"]]
    except (KeyError, TypeError) as exc:
        raise ValueError("The checkpoint export is malformed.") from exc
