"""The password-reset e-mail, sent through the SMTP server of the settings.

A deliberately small sender (standard library ``smtplib`` in a worker thread): one message, one
connection, TLS as configured (``smtp_security``: ``starttls``, implicit ``tls`` or ``none``
for a relay on the same host). The message holds the reset link and nothing else about the
operator; the log line on failure names only the exception type (RFC 5321 replies can echo
addresses).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from confide.core.config import Settings
from confide.core.errors import MailNotConfigured

log = logging.getLogger("confide.mail")
SMTP_TIMEOUT_SECONDS = 20.0


def reset_message(settings: Settings, to: str, link: str, ttl_seconds: int) -> EmailMessage:
    """The reset mail: plain text, the link, how long it works, and what to do if unexpected."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = "Reset your Confide password"
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    minutes = ttl_seconds // 60
    message.set_content(
        "Someone asked to reset the password of your Confide account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
        "The link works once. If you did not ask for it, ignore this mail: your password "
        "stays as it is.\n"
    )
    return message


def _send_blocking(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


async def send_mail(settings: Settings, message: EmailMessage) -> bool:
    """Send ``message``; returns False (and logs the error type) if the server refused it.

    Raises :class:`MailNotConfigured` when no ``smtp_host`` is set."""
    if not settings.smtp_host:
        raise MailNotConfigured()
    try:
        await asyncio.to_thread(_send_blocking, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail not sent: %s", type(exc).__name__)
        return False
    return True
