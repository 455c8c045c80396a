"""Settings, read from ``CONFIDE_*`` environment variables and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables, the TOML file
named by ``CONFIDE_CONFIG_FILE``, then the defaults below. Everything that can hold a secret
(``secret_key``) is never printed by ``confide`` and never written to the repository.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from confide.core.residency import SAFEGUARDS, normalise_country, transfer_problem


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIDE_", extra="forbid")

    data_dir: Path = Field(
        default=Path("./confide-data"),
        description="Directory for the SQLite database, the instance secret and other local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to SQLite in data_dir. "
        "Use postgresql+asyncpg://user@host/db for PostgreSQL.",
    )
    keystore_url: str | None = Field(
        default=None,
        description="Database of wrapped keys, apart from the data: defaults to SQLite in "
        "data_dir/keys.db; use a separate PostgreSQL database for several nodes.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Base64 32-byte master key; defaults to data_dir/master.key (mode 0600).",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="The master key file (default data_dir/master.key). Key epochs rewrite it "
        "after erasures; give every node and worker the same file (a shared volume) rather "
        "than CONFIDE_MASTER_KEY, which cannot be destroyed (docs/architecture.md).",
    )
    redis_url: str | None = Field(default=None, description="Redis URL for multi-node fan-out.")
    rate_limit_when_redis_down: Literal["local", "refuse"] = Field(
        default="local",
        description="What rate limits do while Redis is unreachable: 'local' counts in each "
        "node's memory (a cluster of N nodes then admits up to N times a limit), 'refuse' "
        "answers HTTP 503 with Retry-After (and an error frame on sockets).",
    )
    malloc_arena_max: int = Field(
        default=2,
        ge=0,
        le=64,
        description="At most this many glibc malloc arenas in `confide serve` (0: glibc's "
        "default, 8 per core). Fewer arenas keep idle sockets small (confide.core.memory).",
    )
    gc_gen0_threshold: int = Field(
        default=50_000,
        ge=0,
        le=10_000_000,
        description="Allocations between two young-generation collections in `confide serve`, "
        "which also freezes its startup objects (0: Python's defaults). Keeps the collector's "
        "full passes rare with thousands of sockets open (confide.core.memory).",
    )
    ws_ping_interval_seconds: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="How often the server pings each WebSocket to keep proxies from closing it.",
    )
    ws_ping_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a ping may wait for its pong before the socket is closed. Sized "
        "for a busy node: at 1,000 sockets a 20 s timeout closed healthy consoles "
        "(docs/operations.md, 'Outages').",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(
        default=None, description="URL at which browsers reach this instance."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of the reverse proxies in front of this node, "
        "comma-separated. X-Forwarded-For and X-Forwarded-Proto are believed only from these: "
        "the client is the right-most X-Forwarded-For address that is not a trusted proxy. "
        "Empty (the default): the headers are ignored and the peer address is the client.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for the e-mails visitors ask for (answers to a message left "
        "while away, chat transcripts); none: Confide sends no e-mail.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (RFC 3207, port 587), tls (implicit TLS, RFC 8314, port 465), "
        "or none (only for a relay on the same host).",
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(
        default=None, description="From the environment (CONFIDE_SMTP_PASSWORD), never a file."
    )
    mail_from: str = Field(
        default="Confide <no-reply@localhost>", description="The sender of every e-mail."
    )
    mail_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    smtp_country: str | None = Field(
        default=None,
        description="Country of the SMTP relay (ISO 3166-1, e.g. IE); none: the deployment's "
        "region. Outside the EEA, smtp_safeguard is required (GDPR Art. 44-46).",
    )
    smtp_safeguard: str | None = Field(
        default=None,
        description="Safeguard of a relay outside the EEA: 'adequacy', or 'scc:YYYY-MM-DD' "
        "(standard contractual clauses and the date they were signed).",
    )
    reopen_link_ttl_seconds: int = Field(
        default=14 * 86_400,
        ge=3600,
        le=90 * 86_400,
        description="How long the link in an e-mailed answer reopens the chat.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Instance secret for token signatures and keyed hashes; every node of a "
        "cluster needs the same one. Defaults to a random key in data_dir/instance.key.",
    )
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)
    mfa_challenge_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    visitor_token_ttl_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="How long a widget's visitor token opens its conversations. A visitor who "
        "comes back later starts afresh; erasing the visitor revokes it at once.",
    )
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_window_seconds: int = Field(default=900, ge=1)
    lockout_duration_seconds: int = Field(default=900, ge=1)
    cookie_secure: bool = Field(
        default=True,
        description="Mark console cookies Secure. Browsers accept Secure cookies on "
        "http://localhost, so only turn this off behind a plain-HTTP proxy you trust.",
    )
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    max_request_body_bytes: int = Field(default=1_048_576, ge=1024)
    attachment_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="Largest attachment any workspace may accept (the upload routes' body "
        "limit); each workspace sets its own limit up to this.",
    )
    attachment_link_seconds: int = Field(default=300, ge=10, le=86_400)
    visitor_files_per_minute: int = Field(default=10, ge=1)
    message_max_chars: int = Field(default=4000, ge=1, le=100_000)
    # SQLite: how many units of work (messages and other small writes) that arrive together
    # share one write transaction and its COMMIT; 1 turns group commit off
    # (confide/core/group_commit.py).
    sqlite_group_commit_max_units: int = Field(default=64, ge=1, le=1000)
    # PostgreSQL connections per process, for the data and again for the key store: up to
    # (pool size + overflow) x 2 per node or worker, which must fit the server's
    # max_connections (docs/operations.md, "Connections to PostgreSQL"). No overflow by
    # default: an overflow connection is closed as soon as it is returned, so a sustained load
    # above the pool size opened and closed a connection every ~20 messages (a new server
    # process each time, docs/performance.md); pooled ones are opened on demand and kept.
    db_pool_size: int = Field(
        default=30,
        ge=1,
        le=500,
        description="PostgreSQL connections a process may keep open (opened when needed).",
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        le=500,
        description="Extra PostgreSQL connections a process may open "
        "at peak, each closed as soon as it is returned.",
    )
    visitor_messages_per_minute: int = Field(default=30, ge=1)
    conversations_per_ip_per_hour: int = Field(default=20, ge=1)
    # New chats one visitor may start an hour (one is open at a time; this counts new ones).
    conversations_per_visitor_per_hour: int = Field(default=10, ge=1)
    typing_events_per_minute: int = Field(default=120, ge=1)
    default_max_concurrent_chats: int = Field(default=5, ge=1, le=100)
    # Transcripts off: how long, and how many, messages of a live chat are held (memory or
    # Redis, never the database) so the agent who picks it up sees it
    # (confide/realtime/fanout/relay.py).
    live_relay_seconds: int = Field(default=1800, ge=60, le=86_400)
    live_relay_max_messages: int = Field(default=100, ge=1, le=1000)
    # Password resets by e-mail (the SMTP settings above); without smtp_host an admin resets
    # passwords from the command line (`confide operator set-password`).
    password_reset_ttl_seconds: int = Field(default=1800, ge=60, le=86_400)
    password_resets_per_hour: int = Field(
        default=5, ge=1, description="Reset requests per address and per client IP."
    )
    run_jobs_in_process: bool | None = Field(
        default=None,
        description="Run the job worker inside `confide serve`. Default: on with SQLite (one "
        "node), off with PostgreSQL (run `confide worker` processes instead).",
    )
    worker_poll_interval_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often an idle worker looks for due jobs."
    )
    job_lease_seconds: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="How long a claimed job stays a worker's without a heartbeat; a dead "
        "worker's job is reclaimed after this. Heartbeats come every third of it.",
    )
    job_retry_backoff_seconds: float = Field(
        default=30.0, ge=0, description="Wait before retrying a failed job; doubles per attempt."
    )
    job_batch_size: int | None = Field(
        default=None, ge=1, description="Items per batch for every job kind (default: per kind)."
    )
    job_batch_pause_seconds: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="Seconds each batch waits before it commits, to slow jobs down in tests "
        "and demonstrations. Keep 0 in production: a waiting batch holds its locks.",
    )
    job_history_days: int = Field(
        default=30, ge=1, description="Days finished jobs stay listed before they are pruned."
    )
    retention_run_keep_days: int = Field(
        default=400,
        ge=1,
        le=3650,
        description="Days a retention run's stored report is kept (from its start) before the "
        "retention run itself prunes it; the default covers a year of daily runs and more.",
    )
    backups_dir: Path | None = Field(
        default=None,
        description="Where `confide backup` writes encrypted backups; default: a directory "
        "beside data_dir named '<data_dir>-backups', never inside data_dir, which holds the "
        "keys that must not be stored with backups (docs/operations.md, 'Backups').",
    )
    backup_keep_days: int = Field(
        default=7,
        ge=1,
        le=7,
        description="Days a backup is kept before `confide backup prune` (daily in the worker) "
        "removes it; shortened further to the shortest retention any workspace sets.",
    )
    log_level: str = "INFO"
    # -- accountability (issue 18): who runs this deployment, where, and where it may send --
    deployment_region: str | None = Field(
        default=None,
        description="Country (ISO 3166-1 alpha-2, e.g. DE) where this deployment stores its "
        "data; the record of processing states it and transfers are judged against the EEA.",
    )
    processor_name: str | None = Field(
        default=None,
        description="Organisation that runs this deployment (the processor, GDPR Art. 28/30(2)).",
    )
    processor_contact: str | None = Field(
        default=None, description="Postal or e-mail contact of the processor (Art. 30(2)(a))."
    )
    outbound_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Private or loopback networks (CIDR) that outbound webhooks may reach, e.g. "
        "a bridge on this host (127.0.0.1/32); comma-separated. Empty (the default): outbound "
        "URLs resolving to loopback, private, link-local or metadata addresses are refused.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("CONFIDE_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @field_validator("trusted_proxies", "outbound_allowed_networks", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies", "outbound_allowed_networks")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        # No wildcard: trusting every peer would let any client choose its own address (and
        # so its rate-limit bucket and what the connection log keeps).
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"{item!r} is not an IP address or network such as 10.0.0.0/8."
                ) from exc
        return value

    @field_validator("deployment_region")
    @classmethod
    def _region_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.strip().upper()
        if len(region) != 2 or not region.isalpha():
            raise ValueError("deployment_region is a two-letter country code such as DE.")
        return region

    @model_validator(mode="after")
    def _smtp_transfer(self) -> Settings:
        # Mails carry personal data (answers, transcripts, breach notices): a relay outside
        # the EEA needs a recorded safeguard, like any subprocessor (core.residency).
        if not self.smtp_host or not self.smtp_country:
            return self
        try:
            country = normalise_country(self.smtp_country)
        except ValueError as exc:
            raise ValueError(f"smtp_country: {exc}") from exc
        kind, _, signed = (self.smtp_safeguard or "").partition(":")
        try:
            signed_on = date.fromisoformat(signed) if signed else None
        except ValueError as exc:
            raise ValueError("smtp_safeguard: write scc:YYYY-MM-DD.") from exc
        safeguard = kind if kind in SAFEGUARDS else None
        if self.smtp_safeguard and safeguard is None:
            raise ValueError("smtp_safeguard is 'adequacy' or 'scc:YYYY-MM-DD'.")
        problem = transfer_problem(country, safeguard, signed_on)
        if problem is not None:
            raise ValueError(f"smtp_country: {problem} Set CONFIDE_SMTP_SAFEGUARD.")
        self.smtp_country = country
        return self

    @field_validator("database_url", "keystore_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'confide.db').resolve()}"

    @property
    def resolved_keystore_url(self) -> str:
        if self.keystore_url:
            return self.keystore_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'keys.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def resolved_backups_dir(self) -> Path:
        if self.backups_dir is not None:
            return self.backups_dir.resolve()
        data_dir = self.data_dir.resolve()
        return data_dir.parent / f"{data_dir.name}-backups"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def jobs_in_process(self) -> bool:
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return self.is_sqlite

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def with_overrides(self, **overrides: Any) -> Settings:
        data = self.model_dump()
        data.update(overrides)
        return Settings(**data)
