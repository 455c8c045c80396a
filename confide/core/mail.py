"""Sending e-mail over SMTP: the one way out for every mail Confide sends.

Why one small module on the standard library: Confide sends few mails (answers to a message
left while nobody was available, a transcript on request, password resets, data-subject request
links and receipts, the admins' digest). ``smtplib`` speaks everything needed (STARTTLS per
RFC 3207, implicit TLS per RFC 8314, AUTH) and runs in a worker thread so the event loop never
waits on a mail server. Messages are ``email.message.EmailMessage`` (RFC 5322 headers, MIME
built by the standard library); callers hand over a :class:`Mail` and never open a connection.

Settings (``confide.core.config``): ``smtp_host`` (none: mail is off and callers must not
offer it), ``smtp_port``, ``smtp_security`` (``starttls`` | ``tls`` | ``none``),
``smtp_username`` and ``smtp_password`` (from the environment, ``CONFIDE_SMTP_PASSWORD``),
``mail_from``, ``mail_timeout_seconds``. TLS uses the system's trust store with hostname
checking.

Mails that must survive a restart or a mail server that is down go through the outbox
(``confide.jobs.outbox``): sealed in the database, sent by a job that retries.

Errors: :class:`MailUnavailable` (no SMTP configured) and :class:`MailFailed` (the server
refused or could not be reached). Neither message names the recipient: logs must not hold
personal data.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from confide.core.config import Settings
from confide.core.errors import MailFailed, MailUnavailable


@dataclass(frozen=True)
class Mail:
    """One plain-text mail to one recipient (``to`` is an address, not a display name)."""

    to: str
    subject: str
    text: str


def mail_enabled(settings: Settings) -> bool:
    """Whether an SMTP server is configured; features that mail are offered only then."""
    return bool(settings.smtp_host)


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    """``mail`` as an RFC 5322 message from ``mail_from``, marked auto-generated (RFC 3834)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    domain = settings.mail_from.rpartition("@")[2].strip(" >") or "confide.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message.set_content(mail.text)
    return message


def _send_blocking(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    context = ssl.create_default_context()
    timeout = settings.mail_timeout_seconds
    client: smtplib.SMTP
    if settings.smtp_security == "tls":
        client = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with client:
        client.ehlo()
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            client.login(settings.smtp_username, password)
        client.send_message(message)


async def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send a built message; raises MailUnavailable or MailFailed (the recipient is never
    named in either)."""
    if not mail_enabled(settings):
        raise MailUnavailable("No SMTP server is configured (CONFIDE_SMTP_HOST).")
    try:
        await asyncio.to_thread(_send_blocking, settings, message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailFailed(f"The mail could not be sent ({type(exc).__name__}).") from exc


async def send_mail(settings: Settings, mail: Mail) -> None:
    """Send ``mail`` now; raises MailUnavailable or MailFailed (the recipient is never named)."""
    await send_message(settings, build_message(settings, mail))
