"""Data-subject requests (GDPR Art. 12-21): cases with deadlines, the self-service portal,
carrying requests out, and signed receipts.

- ``cases``: the case, its status machine, deadlines (the legal month, its extension, the
  workspace's target) and history; the console's urgency list.
- ``portal``: one-time links that prove control of an address, then filing a request.
- ``acts``: erasure, restriction, objection, rectification and access, then completion.
- ``receipts``: the signed receipt and its verification.
- ``digest``: the admins' daily digest job.

Importing the package registers its job kinds (``send_mail``, ``purge_portal_links``,
``dsr_digest``).
"""

from __future__ import annotations

from confide.privacy.requests import digest, portal  # noqa: F401  (register job kinds)
