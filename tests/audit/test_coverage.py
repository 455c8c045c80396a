"""Every state change leaves an audit record: each write route of the API and each command of
the CLI that changes state is either driven here and must append its action to the ledger, or
is listed with the reason it is not recorded. A new write route fails the classification test
until it is put in one list or the other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.backup.actions import do_create_backup
from confide.chat.models import Visitor
from confide.core import clock
from confide.privacy.models import ConnectionLog
from confide.runtime import Runtime
from tests.access.custody_helpers import drive_custody_routes
from tests.api.test_malformed_input import ROUTES
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import PASSWORD, World, totp_now

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
API = "/api/v1"

# (method, route path) -> the action its state change is recorded as.
AUDITED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): "auth.login",
    ("POST", "/api/v1/auth/mfa"): "auth.login",
    ("POST", "/api/v1/auth/logout"): "auth.logout",
    ("PATCH", "/api/v1/me"): "operator.update",
    ("POST", "/api/v1/me/password"): "auth.password_changed",
    ("POST", "/api/v1/me/mfa/enrol"): "auth.mfa_enrolment_started",
    ("POST", "/api/v1/me/mfa/confirm"): "auth.mfa_enabled",
    ("POST", "/api/v1/me/mfa/recovery-codes"): "auth.recovery_codes_regenerated",
    ("POST", "/api/v1/me/mfa/disable"): "auth.mfa_disabled",
    ("PUT", "/api/v1/me/presence"): "operator.availability",
    ("POST", "/api/v1/operators"): "operator.create",
    ("PATCH", "/api/v1/operators/{operator_id}"): "operator.update",
    ("POST", "/api/v1/operators/{operator_id}/unlock"): "operator.unlock",
    ("DELETE", "/api/v1/operators/{operator_id}"): "operator.remove",
    ("POST", "/api/v1/groups"): "group.create",
    ("PATCH", "/api/v1/groups/{group_id}"): "group.rename",
    ("DELETE", "/api/v1/groups/{group_id}"): "group.delete",
    ("POST", "/api/v1/api-keys"): "api_key.create",
    ("DELETE", "/api/v1/api-keys/{key_id}"): "api_key.revoke",
    ("PATCH", "/api/v1/workspace"): "workspace.settings",
    ("PATCH", "/api/v1/workspace/widget"): "workspace.widget",
    ("PUT", "/api/v1/consent/requests/{purpose}"): "consent.request_publish",
    ("PUT", "/api/v1/channels/{channel}"): "channel.configure",
    ("POST", "/api/v1/channels/{channel}/rotate-secret"): "channel.rotate_secret",
    ("POST", "/api/v1/conversations/{conversation_id}/assign"): "conversation.assign",
    ("POST", "/api/v1/conversations/{conversation_id}/transfer"): "conversation.transfer",
    ("POST", "/api/v1/conversations/{conversation_id}/close"): "conversation.close",
    ("POST", "/api/v1/conversations/{conversation_id}/reopen"): "conversation.reopen",
    ("POST", "/api/v1/conversations/recorded"): "conversation.record",
    ("POST", "/api/v1/visitors/identify"): "visitor.identify",
    ("POST", "/api/v1/widget/identify"): "visitor.identify",
    ("POST", "/api/v1/widget/conversations/{conversation_id}/close"): "conversation.close",
    ("POST", "/api/v1/visitors/{visitor_id}/erase"): "subject.erase",
    ("POST", "/api/v1/operators/{operator_id}/erase"): "subject.erase",
    ("POST", "/api/v1/subjects/erase"): "subject.erase",
    ("POST", "/api/v1/visitors/{visitor_id}/export"): "subject.export",
    ("POST", "/api/v1/operators/{operator_id}/export"): "subject.export",
    ("POST", "/api/v1/subjects/export"): "subject.export",
    ("POST", "/api/v1/retention/bulk-delete"): "conversations.bulk_delete",
    ("POST", "/api/v1/labels"): "label.create",
    ("DELETE", "/api/v1/labels/{label_id}"): "label.delete",
    ("PUT", "/api/v1/conversations/{conversation_id}/labels"): "conversation.label",
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): "conversation.note_added",
    ("POST", "/api/v1/conversations/{conversation_id}/attachments"): (
        "conversation.attachment_added"
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/attachments"): (
        "conversation.attachment_added"
    ),
    ("PUT", "/api/v1/workspace/attachment-settings"): "workspace.attachment_settings_changed",
    ("POST", "/api/v1/visitor-attributes"): "visitor_attribute.define",
    ("PUT", "/api/v1/visitors/{visitor_id}/attributes/{name}"): "visitor.attribute_set",
    ("POST", "/api/v1/saved-replies"): "saved_reply.create",
    ("DELETE", "/api/v1/saved-replies/{reply_id}"): "saved_reply.delete",
    # Driven with a real SMTP server on loopback (test_every_mail_route_appends_its_record).
    ("POST", "/api/v1/auth/password-reset"): "auth.password_reset_requested",
    ("POST", "/api/v1/auth/password-reset/complete"): "auth.password_reset",
    ("POST", "/api/v1/operators/{operator_id}/password-reset"): "operator.password_reset_sent",
    ("POST", "/api/v1/widget/conversations/{conversation_id}/transcript"): (
        "conversation.transcript_emailed"
    ),
    ("PUT", "/api/v1/groups/{group_id}/hours"): "group.hours",
    ("DELETE", "/api/v1/groups/{group_id}/hours"): "group.hours",
    ("PUT", "/api/v1/dsr/settings"): "dsr.settings",
    ("POST", "/api/v1/dsr/cases"): "dsr.opened",
    ("POST", "/api/v1/dsr/cases/{case_id}/assign"): "dsr.assigned",
    ("POST", "/api/v1/dsr/cases/{case_id}/status"): "dsr.verified",
    ("POST", "/api/v1/dsr/cases/{case_id}/carry-out"): "dsr.completed",
    ("POST", "/api/v1/dsr/cases/{case_id}/lift-restriction"): "dsr.restriction_lifted",
    ("POST", "/api/v1/dsr/cases/{case_id}/reject"): "dsr.rejected",
    ("POST", "/api/v1/widget/privacy-requests"): "dsr.opened",
    ("POST", "/api/v1/portal/{workspace}/requests"): "dsr.opened",
    # Accountability (issue 18).
    ("POST", "/api/v1/breaches"): "breach.record",
    ("POST", "/api/v1/breaches/{breach_id}/notifications"): "breach.notify",
    ("POST", "/api/v1/breaches/{breach_id}/close"): "breach.close",
    ("POST", "/api/v1/breaches/{breach_id}/exposed-subjects"): "breach.exposure_read",
    ("POST", "/api/v1/subprocessors"): "subprocessor.add",
    ("DELETE", "/api/v1/subprocessors/{subprocessor_id}"): "subprocessor.remove",
    ("PUT", "/api/v1/controller-profile"): "controller_profile.update",
    # Support access, archive custodians and legal holds (custody_helpers.drive_custody_routes).
    ("POST", "/api/v1/access-grants/support"): "support_access.grant",
    ("POST", "/api/v1/access-grants/{grant_id}/revoke"): "support_access.revoke",
    ("PUT", "/api/v1/operators/{operator_id}/archive-custodian"): "archive_custodian.appoint",
    ("POST", "/api/v1/archive/conversations/{conversation_id}/open"): "archive.open",
    ("POST", "/api/v1/legal-holds"): "legal_hold.place",
    ("POST", "/api/v1/legal-holds/{hold_id}/lift"): "legal_hold.lift",
}
MAIL_ROUTES = {
    ("POST", "/api/v1/portal/{workspace}/requests"),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/transcript"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/complete"),
    ("POST", "/api/v1/operators/{operator_id}/password-reset"),
}

# (method, route path) -> why the change is not an audit record of its own.
NOT_RECORDED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/refresh"): "rotates the session's own tokens; the session's start "
    "and end are recorded",
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): "the message row (author, "
    "time, sequence) is the record of a message",
    ("POST", "/api/v1/widget/conversations/{conversation_id}/messages"): "the message row is "
    "the record of a message",
    ("POST", "/api/v1/hooks/{workspace_slug}/{channel}"): "an inbound message: the message row "
    "is its record",
    ("POST", "/api/v1/widget/conversations"): "the visitor's own act; the conversation row "
    "(created_at, channel) is its record",
    ("POST", "/api/v1/widget/conversations/{conversation_id}/csat"): "the visitor's rating of "
    "their own conversation, kept on the conversation",
    ("POST", "/api/v1/widget/consent"): "the consent ledger is the record of a decision "
    "(signed proof with the exact text); co-browsing decisions are audited as well",
    ("POST", "/api/v1/widget/{workspace}/visitors"): "creates an anonymous visitor id, about "
    "no known person",
    ("POST", "/api/v1/widget/{workspace}/reopen"): "exchanges a signed link for a visitor token; "
    "changes nothing stored",
    ("POST", "/api/v1/portal/{workspace}/link"): "mails a one-time link to any address, known or "
    "not (recording it would tie an address to a subject); the sealed link row is its record",
    ("POST", "/api/v1/portal/{workspace}/verify"): "spends a one-time link (its verified_at); "
    "the request filed with it is recorded",
}

# CLI commands that change state and the action they append; the others only read, serve or
# create the schema (migrate) and the demo (which uses the same actions).
CLI_AUDITED = {
    ("operator", "create"): "operator.create",
    ("operator", "set-password"): "operator.password_reset",
    ("keys", "rotate"): "keys.rotate",
    ("keys", "epoch"): "keys.epoch",
    ("backup", "create"): "backup.create",
    ("backup", "prune"): "backup.prune",
    # Restores into the configured database and records there, after re-applying the journal.
    ("backup", "restore"): "backup.restore",
    ("backup", "restore-keys"): "backup.restore_keys",
    ("purge-connection-logs",): "connection_logs.purge",
    ("subjects", "erase"): "subject.erase",
    ("dsr", "erase"): "dsr.completed",
    ("dsr", "restrict"): "dsr.completed",
    ("dsr", "export"): "dsr.completed",
    ("breach", "record"): "breach.record",
    ("breach", "notify"): "breach.notify",
    ("subprocessor", "add"): "subprocessor.add",
    ("subprocessor", "remove"): "subprocessor.remove",
    ("subjects", "export"): "subject.export",
    ("retention", "run"): "retention.run",
    ("retention", "delete"): "conversations.bulk_delete",
}


BREACH = {
    "title": "Mislaid export",
    "nature": "A CSV export was sent to the wrong partner.",
    "detected_at": "2026-01-05T10:00:00+00:00",
    "data_categories": ["visitor names"],
    "subject_categories": ["website visitors"],
    "approx_subjects": 3,
    "approx_records": 3,
    "consequences": "Names disclosed to one partner, who confirmed deletion.",
    "measures": "Exports now need a second admin.",
}


async def new_visitor_id(client: httpx.AsyncClient) -> str:
    """A fresh widget visitor with a conversation; its id as an admin sees it."""
    visitor = await new_visitor(client)
    return str((await start_chat(client, visitor, "Erase me"))["conversation"]["visitor_id"])


def _write_routes() -> set[tuple[str, str]]:
    return {(method, path) for method, path, _ in ROUTES if method in WRITE_METHODS}


def test_every_write_route_is_classified() -> None:
    classified = set(AUDITED) | set(NOT_RECORDED)
    assert _write_routes() - classified == set(), "classify the new route in this file"
    assert classified - _write_routes() == set(), "a classified route no longer exists"


class Ledger:
    """Drives a route and checks that its action was appended to the ledger."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.seen: set[tuple[str, str]] = set()

    async def _actions_after(self, count: int) -> list[str]:
        async with self.rt.db.session() as session:
            events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.at))).all()
        return [e.action for e in events[count:]]

    async def _count(self) -> int:
        async with self.rt.db.session() as session:
            return len((await session.scalars(select(AuditEvent.id))).all())

    async def drive(
        self, method: str, route: str, call: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        before = await self._count()
        response = await call()
        assert response.is_success, (method, route, response.status_code, response.text)
        new = await self._actions_after(before)
        assert AUDITED[(method, route)] in new, (method, route, new)
        self.seen.add((method, route))
        return response


async def test_every_audited_route_appends_its_record(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    ledger = Ledger(rt)
    drive = ledger.drive
    support = await world.group("Support")
    ada = await world.operator("ada", Role.ADMIN, email="ada@example.invalid")
    ben = await world.operator("ben", Role.AGENT, groups=[support])
    admin = await world.headers(ada)
    agent = await world.headers(ben)

    def call(method: str, path: str, headers: dict[str, str], **kw: object) -> Callable:
        return lambda: client.request(method, API + path, headers=headers, **kw)  # type: ignore[arg-type]

    # Signing in and out, one's own account.
    await drive(
        "POST",
        "/api/v1/auth/login",
        call(
            "POST",
            "/auth/login",
            {},
            json={"workspace": "acme", "username": "ben", "password": PASSWORD},
        ),
    )
    await drive("PATCH", "/api/v1/me", call("PATCH", "/me", agent, json={"job_title": "Agent"}))
    await drive(
        "PUT",
        "/api/v1/me/presence",
        call("PUT", "/me/presence", agent, json={"availability": "away"}),
    )
    enrolled = await drive("POST", "/api/v1/me/mfa/enrol", call("POST", "/me/mfa/enrol", agent))
    secret = enrolled.json()["secret"]
    await drive(
        "POST",
        "/api/v1/me/mfa/confirm",
        call("POST", "/me/mfa/confirm", agent, json={"code": totp_now(secret)}),
    )
    clock.advance(30)
    await drive(
        "POST",
        "/api/v1/me/mfa/recovery-codes",
        call("POST", "/me/mfa/recovery-codes", agent, json={"code": totp_now(secret)}),
    )
    challenge = (await world.login(ben)).json()["challenge"]
    clock.advance(30)
    signed_in = await drive(
        "POST",
        "/api/v1/auth/mfa",
        call("POST", "/auth/mfa", {}, json={"challenge": challenge, "code": totp_now(secret)}),
    )
    agent = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    clock.advance(30)
    await drive(
        "POST",
        "/api/v1/me/mfa/disable",
        call(
            "POST", "/me/mfa/disable", agent, json={"password": PASSWORD, "code": totp_now(secret)}
        ),
    )
    await drive(
        "POST",
        "/api/v1/me/password",
        call(
            "POST",
            "/me/password",
            agent,
            json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        ),
    )

    # People and groups.
    created = await drive(
        "POST",
        "/api/v1/operators",
        call(
            "POST",
            "/operators",
            admin,
            json={"username": "cy", "password": PASSWORD, "role": "agent", "name": "Cy Example"},
        ),
    )
    cy = created.json()["id"]
    await drive(
        "PATCH",
        "/api/v1/operators/{operator_id}",
        call("PATCH", f"/operators/{cy}", admin, json={"job_title": "Night shift"}),
    )
    await drive(
        "POST",
        "/api/v1/operators/{operator_id}/unlock",
        call("POST", f"/operators/{cy}/unlock", admin),
    )
    await drive(
        "DELETE", "/api/v1/operators/{operator_id}", call("DELETE", f"/operators/{cy}", admin)
    )
    group = (
        await drive(
            "POST", "/api/v1/groups", call("POST", "/groups", admin, json={"name": "Sales"})
        )
    ).json()["id"]
    await drive(
        "PATCH",
        "/api/v1/groups/{group_id}",
        call("PATCH", f"/groups/{group}", admin, json={"name": "Sales EU"}),
    )
    await drive(
        "PUT",
        "/api/v1/groups/{group_id}/hours",
        call(
            "PUT",
            f"/groups/{group}/hours",
            admin,
            json={"time_zone": "Europe/Paris", "weekly": {"mon": [["09:00", "17:00"]]}},
        ),
    )
    await drive(
        "DELETE", "/api/v1/groups/{group_id}/hours", call("DELETE", f"/groups/{group}/hours", admin)
    )
    await drive("DELETE", "/api/v1/groups/{group_id}", call("DELETE", f"/groups/{group}", admin))

    # Workspace settings, keys, consent texts, channels.
    await drive(
        "PATCH", "/api/v1/workspace", call("PATCH", "/workspace", admin, json={"name": "Acme Ltd"})
    )
    await drive(
        "PATCH",
        "/api/v1/workspace/widget",
        call("PATCH", "/workspace/widget", admin, json={"title": "Chat with Acme"}),
    )
    key = (
        await drive(
            "POST", "/api/v1/api-keys", call("POST", "/api-keys", admin, json={"name": "backend"})
        )
    ).json()
    server = {"Authorization": f"Bearer {key['key']}"}
    await drive(
        "PUT",
        "/api/v1/consent/requests/{purpose}",
        call(
            "PUT",
            "/consent/requests/chat",
            admin,
            json={"version": "1", "text": "We keep this chat to answer you."},
        ),
    )
    await drive(
        "PUT",
        "/api/v1/channels/{channel}",
        call("PUT", "/channels/sms", admin, json={"outbound_url": None, "enabled": True}),
    )
    await drive(
        "POST",
        "/api/v1/channels/{channel}/rotate-secret",
        call("POST", "/channels/sms/rotate-secret", admin),
    )

    # Conversations.
    visitor = await new_visitor(client)
    await drive(
        "POST",
        "/api/v1/visitors/identify",
        call(
            "POST",
            "/visitors/identify",
            server,
            json={"vuid": visitor.vuid, "name": "Vera Example"},
        ),
    )
    await drive(
        "POST",
        "/api/v1/widget/identify",
        call("POST", "/widget/identify", visitor.headers, json={"email": "vera@example.invalid"}),
    )
    chat = (await start_chat(client, visitor, "Hello", group_id=support))["conversation"]["id"]
    await drive(
        "POST",
        "/api/v1/conversations/{conversation_id}/assign",
        call("POST", f"/conversations/{chat}/assign", admin, json={"operator_id": str(ada.id)}),
    )
    await drive(
        "POST",
        "/api/v1/conversations/{conversation_id}/transfer",
        call("POST", f"/conversations/{chat}/transfer", admin, json={"group_id": str(support)}),
    )
    await drive(
        "POST",
        "/api/v1/conversations/{conversation_id}/close",
        call("POST", f"/conversations/{chat}/close", admin),
    )
    await drive(
        "POST",
        "/api/v1/conversations/{conversation_id}/reopen",
        call("POST", f"/conversations/{chat}/reopen", admin),
    )
    await drive(
        "POST",
        "/api/v1/widget/conversations/{conversation_id}/close",
        call("POST", f"/widget/conversations/{chat}/close", visitor.headers),
    )
    await drive(
        "POST",
        "/api/v1/conversations/recorded",
        call(
            "POST",
            "/conversations/recorded",
            server,
            json={
                "channel": "call",
                "visitor": {"name": "Cal Example"},
                "metadata": {
                    "started_at": "2026-03-02T10:15:00+00:00",
                    "duration_seconds": 60,
                    "direction": "inbound",
                },
            },
        ),
    )
    label = (
        await drive("POST", "/api/v1/labels", call("POST", "/labels", admin, json={"name": "Bug"}))
    ).json()["id"]
    await drive(
        "PUT",
        "/api/v1/conversations/{conversation_id}/labels",
        call("PUT", f"/conversations/{chat}/labels", admin, json={"label_ids": [label]}),
    )
    await drive("DELETE", "/api/v1/labels/{label_id}", call("DELETE", f"/labels/{label}", admin))
    await drive(
        "POST",
        "/api/v1/conversations/{conversation_id}/notes",
        call("POST", f"/conversations/{chat}/notes", admin, json={"body": "Called back."}),
    )
    files = (await start_chat(client, visitor, "A file", group_id=support))["conversation"]["id"]
    await drive(
        "POST",
        "/api/v1/conversations/{conversation_id}/attachments",
        call(
            "POST",
            f"/conversations/{files}/attachments",
            {**admin, "x-confide-filename": "a.txt"},
            content=b"Hi\n",
        ),
    )
    await drive(
        "POST",
        "/api/v1/widget/conversations/{conversation_id}/attachments",
        call(
            "POST",
            f"/widget/conversations/{files}/attachments",
            visitor.headers,
            content=b"Thanks\n",
        ),
    )
    await drive(
        "PUT",
        "/api/v1/workspace/attachment-settings",
        call(
            "PUT",
            "/workspace/attachment-settings",
            admin,
            json={"max_bytes": 2048, "allowed_types": ["png"]},
        ),
    )
    await drive(
        "POST",
        "/api/v1/visitor-attributes",
        call(
            "POST",
            "/visitor-attributes",
            admin,
            json={"name": "shoe_size", "purpose": "Size advice", "retention_days": 90},
        ),
    )
    async with rt.db.session() as session:
        vera = await session.scalar(select(Visitor.id).where(Visitor.vuid == visitor.vuid))
    await drive(
        "PUT",
        "/api/v1/visitors/{visitor_id}/attributes/{name}",
        call("PUT", f"/visitors/{vera}/attributes/shoe_size", server, json={"value": "EU 42"}),
    )
    reply = (
        await drive(
            "POST",
            "/api/v1/saved-replies",
            call("POST", "/saved-replies", admin, json={"shortcut": "hi", "body": "Hello!"}),
        )
    ).json()["id"]
    await drive(
        "DELETE",
        "/api/v1/saved-replies/{reply_id}",
        call("DELETE", f"/saved-replies/{reply}", admin),
    )
    await drive(
        "DELETE", "/api/v1/api-keys/{key_id}", call("DELETE", f"/api-keys/{key['id']}", admin)
    )
    # Access and portability exports (GDPR Art. 15, 20); downloads: tests/privacy/test_export.py.
    await drive(
        "POST",
        "/api/v1/visitors/{visitor_id}/export",
        call("POST", f"/visitors/{(await new_visitor_id(client))}/export", admin),
    )
    await drive(
        "POST",
        "/api/v1/subjects/export",
        call("POST", "/subjects/export", admin, json={"email": "vera@example.invalid"}),
    )
    await drive(
        "POST",
        "/api/v1/operators/{operator_id}/export",
        call("POST", f"/operators/{cy}/export", admin),
    )
    await drive_custody_routes(world, drive, call, admin, ada, chat)
    # Erasure (GDPR Art. 17).
    # Erasure (GDPR Art. 17) and bulk delete by filter.
    await drive(
        "POST",
        "/api/v1/retention/bulk-delete",
        call("POST", "/retention/bulk-delete", admin, json={"channel": "video"}),
    )
    await drive(
        "POST",
        "/api/v1/visitors/{visitor_id}/erase",
        call("POST", f"/visitors/{(await new_visitor_id(client))}/erase", admin),
    )
    await drive(
        "POST",
        "/api/v1/subjects/erase",
        call("POST", "/subjects/erase", admin, json={"email": "vera@example.invalid"}),
    )
    await drive(
        "POST",
        "/api/v1/operators/{operator_id}/erase",
        call("POST", f"/operators/{cy}/erase", admin),
    )
    # Data-subject requests (GDPR Art. 12-21).
    await drive(
        "PUT", "/api/v1/dsr/settings", call("PUT", "/dsr/settings", admin, json={"target_days": 5})
    )
    body = {"kind": "restriction", "visitor_id": await new_visitor_id(client)}
    case = await drive("POST", "/api/v1/dsr/cases", call("POST", "/dsr/cases", admin, json=body))
    case_path = f"/dsr/cases/{case.json()['id']}"
    await drive(
        "POST",
        "/api/v1/dsr/cases/{case_id}/assign",
        call("POST", f"{case_path}/assign", admin, json={"assignee_id": str(ada.id)}),
    )
    await drive(
        "POST",
        "/api/v1/dsr/cases/{case_id}/status",
        call("POST", f"{case_path}/status", admin, json={"status": "verified"}),
    )
    await drive(
        "POST",
        "/api/v1/dsr/cases/{case_id}/carry-out",
        call("POST", f"{case_path}/carry-out", admin, json={}),
    )
    await drive(
        "POST",
        "/api/v1/dsr/cases/{case_id}/lift-restriction",
        call("POST", f"{case_path}/lift-restriction", admin),
    )
    requester = await new_visitor(client)
    filed = await drive(
        "POST",
        "/api/v1/widget/privacy-requests",
        call("POST", "/widget/privacy-requests", requester.headers, json={"kind": "access"}),
    )
    await drive(
        "POST",
        "/api/v1/dsr/cases/{case_id}/reject",
        call(
            "POST",
            f"/dsr/cases/{filed.json()['case_id']}/reject",
            admin,
            json={"reason": "Filed twice."},
        ),
    )
    # Accountability (issue 18): breach register, subprocessors, controller details.
    await drive(
        "PUT",
        "/api/v1/controller-profile",
        call(
            "PUT",
            "/controller-profile",
            admin,
            json={"controller_name": "Acme Ltd", "controller_contact": "privacy@acme.example"},
        ),
    )
    breach = (
        await drive(
            "POST",
            "/api/v1/breaches",
            call("POST", "/breaches", admin, json=BREACH),
        )
    ).json()["id"]
    await drive(
        "POST",
        "/api/v1/breaches/{breach_id}/notifications",
        call(
            "POST",
            f"/breaches/{breach}/notifications",
            admin,
            json={"audience": "authority", "reference": "Portal case 1"},
        ),
    )
    await drive(
        "POST",
        "/api/v1/breaches/{breach_id}/exposed-subjects",
        call(
            "POST",
            f"/breaches/{breach}/exposed-subjects",
            admin,
            json={
                "actor_id": str(ada.id),
                "since": "2026-01-01T00:00:00+00:00",
                "until": "2026-12-31T00:00:00+00:00",
            },
        ),
    )
    await drive(
        "POST",
        "/api/v1/breaches/{breach_id}/close",
        call("POST", f"/breaches/{breach}/close", admin),
    )
    sub = (
        await drive(
            "POST",
            "/api/v1/subprocessors",
            call(
                "POST",
                "/subprocessors",
                admin,
                json={"name": "Example Mail", "service": "E-mail", "country": "DE"},
            ),
        )
    ).json()["id"]
    await drive(
        "DELETE",
        "/api/v1/subprocessors/{subprocessor_id}",
        call("DELETE", f"/subprocessors/{sub}", admin),
    )
    await drive("POST", "/api/v1/auth/logout", call("POST", "/auth/logout", agent))
    assert ledger.seen == set(AUDITED) - MAIL_ROUTES


def _confide(data_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONFIDE_DATA_DIR": str(data_dir), "CONFIDE_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "confide", *args],
        env=env,
        input=f"{PASSWORD}\n{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", sorted(CLI_AUDITED), ids=" ".join)
async def test_every_cli_command_that_changes_state_appends_its_record(
    command: tuple[str, ...],
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    data_dir: Path,
    database_url: str,
) -> None:
    await world.operator("ada", Role.ADMIN)
    args = {
        ("operator", "create"): ["--workspace", "acme", "--username", "dee", "--role", "agent"],
        ("operator", "set-password"): ["--workspace", "acme", "--username", "ada"],
        ("keys", "rotate"): [],
        ("keys", "epoch"): ["--force"],
        ("backup", "create"): [],
        ("backup", "prune"): [],
        ("backup", "restore"): [],
        ("backup", "restore-keys"): [],
        ("purge-connection-logs",): [],
        ("subjects", "erase"): ["--operator", str((await world.operator("eve")).id)],
        ("dsr", "erase"): ["--workspace", "acme", "--email", "nobody@example.invalid"],
        ("dsr", "restrict"): ["--workspace", "acme", "--email", "nobody@example.invalid"],
        ("dsr", "export"): [
            *("--workspace", "acme", "--visitor", await new_visitor_id(client)),
            *("--out", str(data_dir.parent / "dsr-export.zip")),
        ],
        ("breach", "record"): [
            *("--title", "Bucket exposed", "--nature", "A backup bucket was public."),
            *("--workspace", "acme", "--data-categories", "metadata"),
            *("--subject-categories", "visitors", "--approx-subjects", "10"),
            *("--approx-records", "20", "--consequences", "None known."),
            *("--measures", "Bucket closed."),
        ],
        ("breach", "notify"): [await _platform_breach(rt, world), "--reference", "Phoned Ada"],
        ("subprocessor", "add"): [
            *("--name", "Example Cloud", "--service", "Hosting", "--country", "US"),
            *("--safeguard", "scc", "--safeguard-date", "2025-01-31"),
        ],
        ("subprocessor", "remove"): [await _platform_subprocessor(rt)],
        ("subjects", "export"): [
            "--operator",
            str((await world.operator("fay")).id),
            "--output",
            str(data_dir.parent / "eve-export.zip"),
        ],
        ("retention", "run"): [],
        ("retention", "delete"): ["--workspace", "acme", "--channel", "sms"],
    }[command]
    if command == ("backup", "restore"):
        args = [(await do_create_backup(rt))["id"]]
    if command == ("backup", "restore-keys"):
        target = f"sqlite+aiosqlite:///{data_dir / 'restored-keys.db'}"
        args = [(await do_create_backup(rt))["id"], "--to", target]
    if command == ("purge-connection-logs",):
        await new_visitor(client)  # writes a connection log, which is then a year old
        async with rt.db.transaction() as session:
            log = await session.scalar(select(ConnectionLog).limit(1))
            assert log is not None
            log.created_at = clock.utcnow() - timedelta(days=400)
    async with rt.db.session() as session:
        before = set((await session.scalars(select(AuditEvent.id))).all())
    if command == ("backup", "restore"):
        # A restore refuses while anything else is connected to its database (on PostgreSQL,
        # this test's own pooled connections): close them; they reopen when next used.
        await rt.db.engine.dispose()
    result = await asyncio.to_thread(_confide, data_dir, database_url, *command, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    await rt.db.engine.dispose()  # a restore replaced the database under the pooled connections
    async with rt.db.session() as session:
        events = (await session.scalars(select(AuditEvent))).all()
    assert CLI_AUDITED[command] in [e.action for e in events if e.id not in before]


async def _platform_breach(rt: Runtime, world: World) -> str:
    from confide.privacy.accountability.breaches import BreachFacts, do_record_breach

    facts = BreachFacts(
        title="Bucket exposed",
        nature="A backup bucket was public.",
        detected_at=clock.utcnow(),
        data_categories=["metadata"],
        subject_categories=["visitors"],
        approx_subjects=10,
        approx_records=20,
        consequences="None known.",
        measures="Bucket closed.",
    )
    acme = await world.workspace("acme")
    return str((await do_record_breach(rt, None, facts, affected_workspace_ids=[acme]))["id"])


async def _platform_subprocessor(rt: Runtime) -> str:
    from confide.privacy.accountability.subprocessors import do_add_subprocessor

    added = await do_add_subprocessor(
        rt, None, name="Old CDN", service="Static files", country="FR"
    )
    return str(added["id"])
