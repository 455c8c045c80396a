"""The long-lived parts of one Confide process, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from confide.access.passwords import Passwords
from confide.access.principal_cache import PrincipalCache
from confide.access.tokens import TokenService
from confide.chat.agent_cards import AgentCardCache
from confide.core.config import Settings
from confide.core.db import Database
from confide.core.secrets import InstanceSecret, load_instance_secret
from confide.crypto.keyring import Keyring
from confide.crypto.keystore import KeyStore
from confide.crypto.providers import MASTER_KEY_FILE, LocalKeyProvider
from confide.privacy.key_cache import KeyCacheWatcher
from confide.privacy.settings_cache import PrivacySettingsCache
from confide.privacy.vault import Vault
from confide.realtime.fanout.broker import Broker, MemoryBroker
from confide.realtime.fanout.limits import RateLimiter, create_rate_limiter
from confide.realtime.fanout.redis import RedisBroker
from confide.realtime.fanout.relay import LiveRelay, create_live_relay

log = logging.getLogger("confide.runtime")


def create_broker(redis_url: str | None) -> Broker:
    """Redis pub/sub across nodes when ``redis_url`` is set, else in-process fan-out."""
    return RedisBroker(redis_url) if redis_url else MemoryBroker()


def storage_warnings(settings: Settings) -> list[str]:
    """Keys that sit where ``docs/operations.md`` tells people to back up (the SQLite
    database's directory, the backups directory): a backup of that directory would hold the
    keys too, and restoring it would undo every erasure since (crypto-shredding needs the keys
    kept apart from the data). And a key store on PostgreSQL with a master key that cannot be
    destroyed (``CONFIDE_MASTER_KEY``): key epochs cannot shred its copies."""
    keys: list[tuple[str, Path]] = []
    if settings.master_key is None:
        keys.append((f"the master key ({MASTER_KEY_FILE})", settings.resolved_master_key_file))
    keystore = settings.resolved_keystore_url
    if keystore.startswith("sqlite"):
        keys.append(("the key store (keys.db)", Path(keystore.split("///", 1)[1])))
    backed_up: list[Path] = [settings.resolved_backups_dir]
    if settings.is_sqlite:
        backed_up.append(Path(settings.resolved_database_url.split("///", 1)[1]).parent)
    warnings = [
        f"{what} sits in {directory}, which docs/operations.md tells you to back up: keep it "
        "out of that backup (CONFIDE_MASTER_KEY / CONFIDE_KEYSTORE_URL / CONFIDE_BACKUPS_DIR), "
        "or restoring the backup would undo erasures."
        for what, path in keys
        for directory in {d.resolve() for d in backed_up}
        if path.resolve().is_relative_to(directory)
    ]
    if not keystore.startswith("sqlite") and settings.master_key is not None:
        warnings.append(
            "The key store is on PostgreSQL and the master key comes from CONFIDE_MASTER_KEY, "
            "which cannot be destroyed: after an erasure, copies of the key store (WAL, dumps) "
            "stay decryptable. Use the master key file (docs/architecture.md, 'Key epochs')."
        )
    return warnings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secret: InstanceSecret
    vault: Vault
    tokens: TokenService
    passwords: Passwords
    broker: Broker
    limiter: RateLimiter
    keyring: Keyring
    privacy_cache: PrivacySettingsCache
    principal_cache: PrincipalCache
    relay: LiveRelay
    key_cache: KeyCacheWatcher
    agent_cards: AgentCardCache

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = load_instance_secret(settings)
        provider = LocalKeyProvider.from_environment_or_file(
            settings.master_key.get_secret_value() if settings.master_key else None,
            settings.resolved_master_key_file,
        )
        pool_size, max_overflow = settings.db_pool_size, settings.db_max_overflow
        keystore = KeyStore(
            settings.resolved_keystore_url, pool_size=pool_size, max_overflow=max_overflow
        )
        keyring = Keyring(provider, keystore)
        broker = create_broker(settings.redis_url)
        runtime = cls(
            settings=settings,
            db=Database(
                settings.resolved_database_url,
                group_commit_max_units=settings.sqlite_group_commit_max_units,
                pool_size=pool_size,
                max_overflow=max_overflow,
            ),
            secret=secret,
            vault=Vault(secret, keyring),
            tokens=TokenService(
                secret,
                access_ttl_seconds=settings.access_token_ttl_seconds,
                mfa_ttl_seconds=settings.mfa_challenge_ttl_seconds,
                visitor_ttl_days=settings.visitor_token_ttl_days,
            ),
            passwords=Passwords(settings),
            broker=broker,
            limiter=create_rate_limiter(settings.redis_url, settings.rate_limit_when_redis_down),
            keyring=keyring,
            privacy_cache=PrivacySettingsCache(broker),
            principal_cache=PrincipalCache(broker),
            relay=create_live_relay(
                settings.redis_url, settings.live_relay_seconds, settings.live_relay_max_messages
            ),
            key_cache=KeyCacheWatcher(broker, keyring),
            agent_cards=AgentCardCache(broker),
        )
        # Invalidations may have been lost while Redis was away: after every reconnect the
        # broker makes each node drop its cached copies (docs/architecture.md).
        runtime.broker.on_reconnect(runtime.keyring.forget)
        return runtime

    async def prepare(self) -> None:
        """Create what must exist before serving: the key store's schema; and subscribe to
        key-destruction notices from other nodes (``confide.privacy.key_cache``)."""
        await self.keyring.store.create_schema()
        await self.key_cache.start()

    def warn_about_key_storage(self) -> None:
        """Log each of :func:`storage_warnings` once, one line each. Long-running processes
        (the server, the worker) call it at start; one-shot commands stay quiet."""
        for warning in storage_warnings(self.settings):
            log.warning(warning)

    async def close(self) -> None:
        await self.key_cache.close()
        await self.privacy_cache.close()
        await self.principal_cache.close()
        await self.agent_cards.close()
        await self.broker.close()
        await self.limiter.close()
        await self.relay.close()
        await self.keyring.store.close()
        await self.db.dispose()
