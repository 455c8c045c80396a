"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for every mail test.

Use the ``mailbox`` fixture (a :class:`MailBox`; ``mailbox.port`` is where it listens) and
:func:`with_smtp` to point settings at it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from confide.core.config import Settings

WAIT_SECONDS = 10.0


class MailBox:
    """Messages received by the SMTP server, in arrival order, with their envelope recipients."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int) -> list[EmailMessage]:
        """Wait until ``count`` messages have arrived (fails after ``WAIT_SECONDS``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while len(self.messages) < count:
            assert loop.time() < deadline, f"{len(self.messages)} of {count} mails arrived"
            await asyncio.sleep(0.05)
        return list(self.messages)

    def body(self, index: int) -> str:
        """The plain-text body of message ``index``."""
        part = self.messages[index].get_body(preferencelist=("plain",))
        assert part is not None
        content: str = part.get_content()
        return content


def reset_token(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"/console/password/reset#token=([A-Za-z0-9_\-]+)", body.get_content())
    assert found, "the mail has no reset link"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(name="mailbox")
def mailbox_fixture() -> Iterator[MailBox]:
    box = MailBox(_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def with_smtp(settings: Settings, box: MailBox) -> Settings:
    """``settings`` sending through ``box`` (plain SMTP on loopback)."""
    return settings.with_overrides(
        smtp_host="127.0.0.1",
        smtp_port=box.port,
        smtp_security="none",
        mail_from="confide@example.test",
        public_url="http://confide.example.test",
    )
