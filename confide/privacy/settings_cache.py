"""Workspace privacy settings cached per process, for the message path.

Why: every message reads its workspace's settings (redaction, transcripts, consent) inside its
transaction; on SQLite that read sits inside the write lock, so it costs every sender. The
settings change rarely, and a change must still take effect at once, everywhere:

- :func:`settings_changed` runs after the change has committed. It bumps the workspace's
  generation here, so a read that started before the commit cannot store the old row after
  it (it checks the generation before storing), and it publishes an invalidation through the
  broker, so every node drops its copy as soon as Redis delivers it.
- On a node with a Redis broker the cache is used only while its watcher is subscribed and
  the broker is connected. Each entry records the broker's ``epoch``; the epoch moves when the
  connection is lost and again when it is back (invalidations may have been lost), so every
  entry cached before is ignored at once, and a read that started before cannot store its
  row after. ``TTL_SECONDS`` bounds what is left: an entry is never older than that,
  whatever happens to the broker.
- The cached row is a detached copy: callers read it, never write it.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from confide.privacy.models import WorkspacePrivacySettings
from confide.realtime.fanout.broker import Broker
from confide.realtime.fanout.channels import PRIVACY_SETTINGS_CHANNEL
from confide.realtime.fanout.invalidation import InvalidationWatcher

if TYPE_CHECKING:
    from confide.runtime import Runtime

TTL_SECONDS = 10.0
MAX_WORKSPACES = 10_000


class PrivacySettingsCache:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        # workspace -> (expires at, monotonic seconds; broker epoch; detached row)
        self._entries: dict[uuid.UUID, tuple[float, int, WorkspacePrivacySettings]] = {}
        self._generations: dict[uuid.UUID, int] = {}
        self._watcher = InvalidationWatcher(
            broker,
            PRIVACY_SETTINGS_CHANNEL,
            "confide-privacy-settings-cache",
            self._on_event,
            self.invalidate,
        )
        broker.on_reconnect(self.invalidate)

    @property
    def watching(self) -> bool:
        """Whether this node receives every node's invalidations (its watcher subscribed)."""
        return self._watcher.subscribed

    async def load(
        self, session: AsyncSession, workspace_id: uuid.UUID
    ) -> WorkspacePrivacySettings:
        """The workspace's settings, from the cache or read through ``session``."""
        from confide.privacy import settings as privacy_settings

        hit = self.cached(workspace_id)
        if hit is not None:
            return hit
        if not self._watcher.live:
            return await privacy_settings.load(session, workspace_id)
        epoch = self._broker.epoch
        generation = self._generations.get(workspace_id, 0)
        row = await privacy_settings.load(session, workspace_id)
        snapshot = _detached_copy(row)
        unchanged = self._generations.get(workspace_id, 0) == generation
        if unchanged and self._broker.epoch == epoch and self._broker.connected:
            if len(self._entries) >= MAX_WORKSPACES:
                self._entries.clear()
            self._entries[workspace_id] = (time.monotonic() + TTL_SECONDS, epoch, snapshot)
        return snapshot

    def cached(self, workspace_id: uuid.UUID) -> WorkspacePrivacySettings | None:
        """The workspace's settings if this node holds a current copy, else None (no I/O)."""
        if not self._watcher.live:
            return None
        hit = self._entries.get(workspace_id)
        if hit is not None and hit[0] > time.monotonic() and hit[1] == self._broker.epoch:
            return hit[2]
        return None

    def invalidate(self, workspace_id: uuid.UUID | None = None) -> None:
        if workspace_id is None:
            self._entries.clear()
            return
        self._generations[workspace_id] = self._generations.get(workspace_id, 0) + 1
        self._entries.pop(workspace_id, None)

    def _on_event(self, event: dict[str, object]) -> None:
        workspace_id = event.get("workspace_id")
        if isinstance(workspace_id, str):
            self.invalidate(uuid.UUID(workspace_id))

    async def close(self) -> None:
        await self._watcher.close()


def _detached_copy(row: WorkspacePrivacySettings) -> WorkspacePrivacySettings:
    from confide.privacy.settings import SETTING_NAMES

    values = {name: copy.deepcopy(getattr(row, name)) for name in SETTING_NAMES}
    return WorkspacePrivacySettings(workspace_id=row.workspace_id, **values)


async def settings_changed(rt: Runtime, workspace_id: uuid.UUID) -> None:
    """Call after a change to the workspace's privacy settings has committed."""
    rt.privacy_cache.invalidate(workspace_id)
    await rt.broker.publish(
        PRIVACY_SETTINGS_CHANNEL,
        {"type": "privacy_settings_changed", "workspace_id": str(workspace_id)},
    )
