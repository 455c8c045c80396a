"""The audit ledger: who read or changed whose data, when and from where, tamper-evident.

- ``ledger``: recording (:func:`record`), hashing and reading events.
- ``checkpoints``: signed chain heads, and their export.
- ``verify``: walking a chain and naming the first edited, missing or reordered record.
- ``chain``: which chain an event belongs to and what its hash covers.

Actions and queries append their own records (``ledger.append``) inside their unit of work;
transports (REST routes, sockets, console pages, the command line) never call the ledger.

Action names in use: ``auth.login``, ``auth.login_failed``, ``auth.mfa_challenge``,
``auth.mfa_failed``, ``auth.mfa_enabled``, ``auth.mfa_disabled``,
``auth.recovery_codes_regenerated``, ``auth.password_changed``, ``operator.create``,
``operator.read``, ``operator.update``, ``operator.remove``, ``operator.unlock``,
``workspace.settings``, ``api_key.create``, ``api_key.revoke``, ``conversation.read``,
``conversation.list``, ``operator.list``, ``conversation.assign``, ``conversation.transfer``,
``conversation.close``, ``conversation.reopen``, ``operator.availability``,
``operator.password_reset``, ``group.create``, ``group.rename``, ``group.delete``,
``channel.configure``, ``channel.rotate_secret``, ``workspace.widget``,
``conversation.messages_read``, ``visitor.identify``, ``keys.rotate``, ``audit.read``,
``consent.request_publish``, ``consent.proof_read``.
"""

from __future__ import annotations

from confide.audit.checkpoints import create_checkpoint, export_checkpoints
from confide.audit.ledger import Actor, append, record
from confide.audit.verify import ChainReport, Problem, verify_chain

__all__ = [
    "Actor",
    "ChainReport",
    "Problem",
    "append",
    "create_checkpoint",
    "export_checkpoints",
    "record",
    "verify_chain",
]
