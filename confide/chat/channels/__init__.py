"""Social/SMS channels (signed inbound webhook, signed outbound replies) and recorded
call/SMS/video conversations.

Signatures, both directions: ``X-Confide-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 of ``"<t>." + raw body`` under the endpoint's signing secret (its UTF-8 bytes). A
request whose timestamp is more than :data:`SIGNATURE_TOLERANCE_SECONDS` away from now is
refused, so a captured request cannot be replayed later; within that window a replay carries
the same provider message id and is stored once. Comparison is constant-time.

The signing secret is never stored: the endpoint row holds a random nonce and the secret is
derived from it under the instance secret, so a copy of the database alone cannot forge a
webhook. It is shown once, on creation and on rotation.

Inbound messages go through the message path (``append_message``): sequence numbers, client-id
idempotency, routing of new conversations and real-time events apply as for the widget.

Outbound: an operator's reply in a social/SMS conversation writes a ``channel_deliveries`` row
in the same transaction as the message; after commit a background task POSTs it, up to
:data:`MAX_ATTEMPTS` times with :data:`RETRY_BACKOFF_SECONDS` between attempts. Attempts are
claimed through the row (``next_attempt_at`` acts as a lease), so :func:`deliver_due` can pick
up what a crashed process left pending without two processes sending the same reply. Logs name
deliveries by id and status code only: never text, thread ids or phone numbers.

This package re-exports endpoints and outbound delivery only; inbound messages
(``channels.inbound``) and recorded conversations (``channels.recorded``) build on the message
path, which itself queues outbound deliveries, so they are imported from their own modules.
"""

from __future__ import annotations

from confide.chat.channels.endpoints import (
    SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE_SECONDS,
    SOCIAL_CHANNELS,
    do_configure_endpoint,
    do_rotate_secret,
    list_endpoints,
    render_endpoint,
    sign,
    signature_header,
    verify_signature,
)
from confide.chat.channels.outbound import (
    ATTEMPT_LEASE_SECONDS,
    DELIVERY_LIST_LIMIT,
    MAX_ATTEMPTS,
    OUTBOUND_TIMEOUT_SECONDS,
    RETRY_BACKOFF_SECONDS,
    DeliveryOutcome,
    attempt_delivery,
    deliver_due,
    drain,
    list_deliveries,
    queue_outbound,
    start_delivery,
)

__all__ = [
    "ATTEMPT_LEASE_SECONDS",
    "DELIVERY_LIST_LIMIT",
    "MAX_ATTEMPTS",
    "OUTBOUND_TIMEOUT_SECONDS",
    "RETRY_BACKOFF_SECONDS",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE_SECONDS",
    "SOCIAL_CHANNELS",
    "DeliveryOutcome",
    "attempt_delivery",
    "deliver_due",
    "do_configure_endpoint",
    "do_rotate_secret",
    "drain",
    "list_deliveries",
    "list_endpoints",
    "queue_outbound",
    "render_endpoint",
    "sign",
    "signature_header",
    "start_delivery",
    "verify_signature",
]
