"""Registry entries for the exactly-once and single-use tables (merged into
``confide.privacy.registry.REGISTRY``; kept apart so that module does not grow further)."""

from __future__ import annotations

from confide.privacy.datamap import OPERATIONAL, Table, personal

TABLES: dict[str, Table] = {
    "spent_mfa_challenges": Table(
        about="MFA challenges that already completed a sign-in, so none completes two.",
        retention="Until the challenge would have expired (minutes), then deleted.",
        protection="Holds a random challenge id only, not the challenge itself.",
        readers="Nobody (checked at sign-in).",
        columns={"challenge_id": OPERATIONAL, "expires_at": OPERATIONAL},
    ),
    "relayed_client_ids": Table(
        about="With transcripts off, the client ids of a conversation's latest relayed "
        "messages, so a retried send is answered as a duplicate instead of relayed twice.",
        retention="The newest 100 per conversation; deleted with the conversation.",
        protection="No text and no identifier: ids and sequence numbers only.",
        readers="Nobody (compared when a message is sent).",
        columns={
            "conversation_id": OPERATIONAL,
            "client_id": OPERATIONAL,
            "message_id": OPERATIONAL,
            "seq": OPERATIONAL,
            "created_at": personal("When the message was relayed.", export=False),
        },
    ),
    "inbound_receipts": Table(
        about="Each provider message a social/SMS endpoint accepted, so a redelivered webhook "
        "is answered as a duplicate and never stored twice.",
        retention="Deleted with the conversation the message went to.",
        protection="The provider's message id only as a keyed hash (HMAC-SHA256 under the "
        "instance secret).",
        readers="Nobody (compared when a webhook arrives).",
        columns={
            "endpoint_id": OPERATIONAL,
            "provider_message_key": OPERATIONAL,
            "conversation_id": OPERATIONAL,
            "message_id": OPERATIONAL,
            "seq": OPERATIONAL,
            "received_at": personal("When the message arrived.", export=False),
        },
    ),
}

# What the widget keeps in the visitor's browser (host origin), for the record of processing.
# Tested by tests/browser/test_widget_storage.py. (where, key, what, when it is written)
BROWSER_STORAGE: tuple[tuple[str, str, str, str], ...] = (
    (
        "localStorage",
        "confide.<workspace>",
        "VUID and visitor token, open conversation id, pre-chat and consent state, last read",
        "When the visitor first acts (consent, pre-chat form, first message) or the host page "
        "calls Confide.identify()",
    ),
    (
        "localStorage",
        "confide.<workspace>.views",
        "Page views, for engagement rules and the conversation's context",
        "When the visitor opens the widget, or on page load if an engagement rule uses "
        "min_page_views or after_seconds",
    ),
    (
        "sessionStorage",
        "confide.<workspace>.start",
        "When this visit started, for engagement rules and the conversation's context",
        "As for .views",
    ),
    (
        "sessionStorage",
        "confide.<workspace>.bubble",
        "That a proactive greeting was shown this visit",
        "When an engagement rule shows its greeting",
    ),
    (
        "sessionStorage",
        "confide.<workspace>.cobrowse",
        "The conversation id and time of an agent's co-browsing navigation, so the next page "
        "of the same site carries co-browsing on; removed as that page loads",
        "When an agent the visitor let co-browse opens another page of the site",
    ),
)
