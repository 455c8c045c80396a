"""Breach notifications: e-mail the affected workspaces' admins, the supervisory authority
or the data subjects, or record a notification made by other means, and keep the outcome of each.

The data subjects (Art. 34) are told through the sealed mail outbox (``confide.privacy.outbox``),
queued inside the transaction that records the notification, so a crash cannot lose or double
them and thousands of mails never hold up the request. Their addresses are read from the vault
in that transaction and the read is recorded in the same ledger event (``breach.notify``,
naming the subjects told).

Mails go after the notification is recorded and committed (``tx.on_commit``); each
notification row then says whether it was sent, and to how many recipients, never their
addresses. The admins' addresses come from the vault: that read is itself recorded in the
ledger (``breach.notification_sent``, naming the admins as subjects).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Operator, OperatorStatus, Role, Workspace
from confide.access.policy import Principal
from confide.audit.ledger import Actor, append
from confide.core.clock import utcnow
from confide.core.errors import MailFailed, MailUnavailable, ValidationFailed
from confide.core.mail import Mail, mail_enabled, send_mail
from confide.privacy.accountability.breaches import (
    notes_of,
    own_breach,
    register_scope,
    render_breach,
)
from confide.privacy.accountability.models import Breach, BreachNotification, ControllerProfile
from confide.privacy.models import Subject

if TYPE_CHECKING:
    from confide.runtime import Runtime

AUDIENCES = ("admins", "authority", "subjects")
MAX_SUBJECTS = 10_000  # as many as the exposure listing returns


async def do_notify_breach(
    rt: Runtime,
    principal: Principal | None,
    breach_id: uuid.UUID,
    audience: str,
    *,
    reference: str | None = None,
    subject_ids: Sequence[uuid.UUID] = (),
) -> dict[str, Any]:
    """Notify ``audience`` of a breach and record it.

    ``admins`` (platform breaches): e-mail the active admins of every affected workspace, or
    record with ``reference`` that they were told by other means.
    ``authority`` (workspace breaches): e-mail the authority of the controller details, or,
    with a ``reference`` (a case number of the authority's own portal), record a notification
    made there. ``subjects``: e-mail the data subjects ``subject_ids`` of the workspace (from
    the exposure listing; at most :data:`MAX_SUBJECTS`) in plain language (Art. 34(2)), queued
    in the mail outbox, or record with ``reference`` how they were told.
    Mails go after commit, before this returns; the breach returned shows the notifications
    as recorded, :func:`~confide.privacy.accountability.breaches.get_breach` their outcome.
    Raises :class:`ValidationFailed` naming the missing field."""
    scope = register_scope(principal)
    if audience not in AUDIENCES:
        raise ValidationFailed("audience is admins, authority or subjects.", field="audience")
    if (audience == "admins") != (scope is None):
        raise ValidationFailed(
            "Admins are notified of platform breaches; a workspace notifies its authority "
            "and its data subjects.",
            field="audience",
        )
    reference = (reference or "").strip()[:200] or None
    by_mail = reference is None
    if audience == "subjects" and by_mail and not subject_ids:
        raise ValidationFailed(
            "Give the data subjects to e-mail (subject_ids, from the exposure listing), or say "
            "how and when they were told (reference).",
            field="subject_ids",
        )
    if len(subject_ids) > MAX_SUBJECTS:
        raise ValidationFailed(
            f"E-mail at most {MAX_SUBJECTS} data subjects at a time.", field="subject_ids"
        )
    if by_mail and not mail_enabled(rt.settings):
        raise ValidationFailed(
            "No SMTP server is configured: notify by other means and record a reference.",
            field="reference",
        )
    told: list[uuid.UUID] = []
    async with rt.db.transaction() as tx:
        breach = await own_breach(tx, breach_id, scope, affected=True)
        created: list[BreachNotification] = []
        if audience == "admins":
            for workspace in breach.affected_workspace_ids:
                note = _note(breach, "admins", uuid.UUID(workspace), "email", None)
                if not by_mail:  # told by other means (a phone call, a status page)
                    note.method, note.status, note.reference = "recorded", "recorded", reference
                    note.sent_at = utcnow()
                created.append(note)
        elif audience == "subjects" and by_mail:
            assert scope is not None
            note, told = await _queue_subject_notices(rt, tx, breach, scope, subject_ids)
            created.append(note)
        elif by_mail:
            profile = await tx.get(ControllerProfile, scope)
            if profile is None or not profile.authority_email:
                raise ValidationFailed(
                    "Record the supervisory authority's e-mail address in the controller "
                    "details first, or give the reference of a notification made elsewhere.",
                    field="authority_email",
                )
            created.append(_note(breach, "authority", scope, "email", None))
        else:
            note = _note(breach, audience, scope, "recorded", reference)
            note.status, note.sent_at = "recorded", utcnow()
            created.append(note)
        tx.add_all(created)
        await tx.flush()
        await append(
            tx,
            rt,
            principal,
            "breach.notify",
            resource=f"breach:{breach.id}",
            details={"audience": audience, "method": "email" if by_mail else "recorded"},
            subjects=told,  # their addresses were read from the vault to tell them
        )
        for note in created:
            if note.method == "email" and note.status == "pending":
                tx.on_commit(send_notification, rt, note.id)
        return render_breach(breach, await notes_of(tx, breach.id), scope)


async def _queue_subject_notices(
    rt: Runtime,
    tx: AsyncSession,
    breach: Breach,
    workspace_id: uuid.UUID,
    subject_ids: Sequence[uuid.UUID],
) -> tuple[BreachNotification, list[uuid.UUID]]:
    """Queue one Art. 34 mail per subject of the breach's workspace with an e-mail address;
    the notification records how many were queued (subjects without an address, or of
    another workspace, are not counted). Returns it and the subjects told."""
    # Imported here: the outbox imports the requests package, whose job modules import the
    # outbox back; imported first from this module, that cycle would meet it half-initialised.
    from confide.privacy.outbox import queue_mail

    ids = list(dict.fromkeys(subject_ids))
    own = (
        await tx.scalars(
            select(Subject.id).where(
                Subject.id.in_(ids),
                Subject.workspace_id == workspace_id,
                Subject.erased_at.is_(None),
            )
        )
    ).all()
    fields = await rt.vault.read_fields(tx, own, ["email"])
    workspace = await tx.get(Workspace, workspace_id)
    profile = await tx.get(ControllerProfile, workspace_id)
    assert workspace is not None
    subject, text = _subject_message(breach, workspace, profile)
    told = []
    for subject_id in own:
        address = fields.get(subject_id, {}).get("email")
        if address:
            mail = Mail(to=address, subject=subject, text=text)
            await queue_mail(rt, tx, workspace_id, mail)
            told.append(subject_id)
    queued = len(told)
    note = _note(breach, "subjects", workspace_id, "email", None)
    note.status = "queued" if queued else "failed"
    note.recipients = queued
    note.sent_at = utcnow() if queued else None
    return note, told


def _subject_message(
    breach: Breach, workspace: Workspace, profile: ControllerProfile | None
) -> tuple[str, str]:
    """An Art. 34(2) communication: in clear and plain language, the nature of the breach, a
    contact point and the information of Art. 33(3)(b)-(d); nothing about the recipient."""
    contact = (profile.dpo_contact or profile.controller_contact) if profile else None
    lines = [
        f"We are writing to tell you about a personal data breach at {workspace.name} that "
        "may affect your data.",
        "",
        f"What happened: {breach.nature}",
        f"When we became aware of it: {breach.aware_at.date().isoformat()}",
        f"What data was involved: {', '.join(breach.data_categories)}",
        f"What may happen as a result: {breach.consequences}",
        f"What we have done and propose to do: {breach.measures}",
        "",
        f"Who to contact for more information: {contact or workspace.name}",
        "",
        f"Reference of this breach: {breach.id}",
    ]
    return f"Important: a data breach that may affect you ({workspace.name})", "\n".join(
        lines
    ) + "\n"


def _note(
    breach: Breach,
    audience: str,
    workspace_id: uuid.UUID | None,
    method: str,
    reference: str | None,
) -> BreachNotification:
    return BreachNotification(
        breach_id=breach.id,
        audience=audience,
        workspace_id=workspace_id,
        method=method,
        status="pending",
        recipients=0,
        reference=reference,
        created_at=utcnow(),
    )


async def _admin_addresses(
    rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID
) -> dict[uuid.UUID, str]:
    """The e-mail addresses of the workspace's active admins, by their subject id."""
    admins = (
        await session.scalars(
            select(Operator.subject_id).where(
                Operator.workspace_id == workspace_id,
                Operator.role == Role.ADMIN,
                Operator.status == OperatorStatus.ACTIVE,
            )
        )
    ).all()
    fields = await rt.vault.read_fields(session, list(admins), ["email"])
    return {s: f["email"] for s, f in fields.items() if f.get("email")}


async def send_notification(rt: Runtime, notification_id: uuid.UUID) -> None:
    """Send one pending notification (after the commit that recorded it) and record whether
    it went out. A failure is recorded as ``failed``: notify again, or by other means."""
    async with rt.db.session() as session:
        note = await session.get(BreachNotification, notification_id)
        if note is None or note.status != "pending" or note.workspace_id is None:
            return
        breach = await session.get(Breach, note.breach_id)
        workspace = await session.get(Workspace, note.workspace_id)
        assert breach is not None and workspace is not None
        admins: dict[uuid.UUID, str] = {}
        addresses: list[str] = []
        if note.audience == "admins":
            admins = await _admin_addresses(rt, session, note.workspace_id)
            addresses = list(admins.values())
        else:
            profile = await session.get(ControllerProfile, note.workspace_id)
            if profile is not None and profile.authority_email:
                addresses = [profile.authority_email]
    subject, text = _message(rt, breach, workspace, note.audience)
    sent = 0
    for address in addresses:
        try:
            await send_mail(rt.settings, Mail(to=address, subject=subject, text=text))
            sent += 1
        except (MailFailed, MailUnavailable):
            continue
    async with rt.db.transaction() as tx:
        row = await tx.get(BreachNotification, notification_id, with_for_update=True)
        assert row is not None
        row.recipients = sent
        row.status = "sent" if sent and sent == len(addresses) else "failed"
        row.sent_at = utcnow() if sent else None
        # The admins' addresses were read from the vault to send this: a read, recorded.
        await append(
            tx,
            rt,
            Actor("system", None, note.workspace_id),
            "breach.notification_sent",
            subjects=list(admins),
            resource=f"breach:{breach.id}",
            details={"audience": note.audience, "status": row.status, "recipients": sent},
        )


def _message(rt: Runtime, breach: Breach, workspace: Workspace, audience: str) -> tuple[str, str]:
    """Subject and text of a notification: the facts of Art. 33(3)(a)-(d), no personal data."""
    who = (
        f"the platform that runs the workspace {workspace.name}"
        if audience == "admins"
        else workspace.name
    )
    lines = [
        f"This is a notification of a personal data breach at {who} (GDPR Art. 33).",
        "",
        f"Nature of the breach: {breach.nature}",
        f"Detected at: {breach.detected_at.isoformat()}",
        f"Aware since: {breach.aware_at.isoformat()}",
        f"Categories of data: {', '.join(breach.data_categories)}",
        f"Categories of data subjects: {', '.join(breach.subject_categories)}",
        f"Approximate number of data subjects: {breach.approx_subjects}",
        f"Approximate number of records: {breach.approx_records}",
        f"Likely consequences: {breach.consequences}",
        f"Measures taken or proposed: {breach.measures}",
        f"High risk to the data subjects (Art. 34): {'yes' if breach.high_risk else 'no'}",
        "",
        f"Breach reference: {breach.id}",
    ]
    if audience == "admins":
        base = rt.settings.base_url.rstrip("/")
        lines += [
            "",
            "As controller, you have 72 hours from becoming aware to notify your supervisory "
            f"authority. The register and the people affected: {base}/console/settings/breaches",
        ]
    return f"Personal data breach notification: {breach.title}", "\n".join(lines) + "\n"
