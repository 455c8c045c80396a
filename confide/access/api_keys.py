"""Per-workspace API keys for the host site's backend. The secret is shown once, at creation;
only a keyed hash is stored, and a lookup by its public prefix finds the row to compare."""

from __future__ import annotations

import hmac
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from confide.access import policy
from confide.access.models import ApiKey
from confide.access.policy import Action, Principal
from confide.audit.ledger import append
from confide.core.clock import utcnow
from confide.core.errors import InvalidToken, NotFound, ValidationFailed

if TYPE_CHECKING:
    from confide.runtime import Runtime


def _render(key: ApiKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


async def do_create_api_key(
    rt: Runtime, actor: Principal, workspace_id: uuid.UUID, name: str
) -> tuple[dict[str, Any], str]:
    """Returns the key's description and its full secret value (never retrievable again)."""
    policy.ensure_same_workspace(actor, workspace_id)
    policy.authorize(actor, Action.API_KEYS_MANAGE)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Give the key a name of 1-100 characters.", field="name")
    material = rt.tokens.new_api_key()
    async with rt.db.transaction() as session:
        key = ApiKey(
            workspace_id=workspace_id,
            name=name,
            prefix=material.prefix,
            secret_hash=rt.tokens.hash_api_key_secret(material.secret),
            created_by=actor.operator_id,
        )
        session.add(key)
        await session.flush()
        await append(session, rt, actor, "api_key.create", resource=f"api_key:{key.id}")
    return _render(key), material.full


async def list_api_keys(rt: Runtime, actor: Principal) -> list[dict[str, Any]]:
    policy.authorize(actor, Action.API_KEYS_MANAGE)
    async with rt.db.session() as session:
        keys = await session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == actor.workspace_id)
            .order_by(ApiKey.created_at)
        )
        return [_render(k) for k in keys.all()]


async def do_revoke_api_key(rt: Runtime, actor: Principal, key_id: uuid.UUID) -> None:
    policy.authorize(actor, Action.API_KEYS_MANAGE)
    async with rt.db.transaction() as session:
        key = await session.get(ApiKey, key_id)
        if key is None:
            raise NotFound()
        policy.ensure_same_workspace(actor, key.workspace_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await append(session, rt, actor, "api_key.revoke", resource=f"api_key:{key.id}")


async def authenticate_api_key(rt: Runtime, presented: str) -> Principal:
    parts = rt.tokens.split_api_key(presented)
    if parts is None:
        raise InvalidToken("The API key is malformed; copy it again from the settings.")
    prefix, secret = parts
    async with rt.db.session() as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    expected = key.secret_hash if key else "0" * 64
    matches = hmac.compare_digest(expected, rt.tokens.hash_api_key_secret(secret))
    if key is None or not matches or key.revoked_at is not None:
        raise InvalidToken("The API key is unknown or revoked.")
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        # Coarse, to keep a busy key from writing on every call.
        async with rt.db.transaction() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
            )
    return Principal(kind="api_key", workspace_id=key.workspace_id, api_key_id=key.id)
