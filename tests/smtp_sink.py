"""A real SMTP server for tests: aiosmtpd's `Controller` on a free loopback port, keeping every
message it receives, with Django's mail pointed at it.

Use the `smtp_sink` fixture (import it into a conftest or test module):

    def test_x(smtp_sink: SmtpSink) -> None:
        ...send...
        (message,) = smtp_sink.messages
        assert message["To"] == "a@b.test"
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    """One delivered message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def __getitem__(self, header: str) -> Any:
        return self.message[header]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> list[str]:
        """The addresses of the To header, lower-cased."""
        return [addr.lower() for _, addr in email.utils.getaddresses([str(self.message["To"] or "")])]

    def part(self, content_type: str) -> str | None:
        """The text of the first body part of that type (text/plain, text/html)."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.get_filename():
                return str(part.get_content())
        return None

    @property
    def text(self) -> str:
        return self.part("text/plain") or ""

    @property
    def html(self) -> str | None:
        return self.part("text/html")

    def attachments(self) -> dict[str, bytes]:
        """Attachments by file name."""
        found: dict[str, bytes] = {}
        for part in self.message.walk():
            name = part.get_filename()
            if name:
                payload = part.get_payload(decode=True)
                found[name] = payload if isinstance(payload, bytes) else b""
        return found


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def to(self, address: str) -> list[Received]:
        """Messages whose envelope went to `address`."""
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Waits until at least `count` messages arrived (for mail sent from another process)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.sink.lock:
            self.sink.received.append(
                Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed)
            )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """An SMTP server on a free loopback port, without touching Django's settings."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    sink = SmtpSink("127.0.0.1", _free_port())
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink(smtp_server: SmtpSink, settings: Any) -> SmtpSink:
    """The SMTP server, and Django's mail sent to it over SMTP (Django 6.1's MAILERS)."""
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": smtp_server.host, "port": smtp_server.port, "timeout": 10},
        }
    }
    return smtp_server


__all__ = ["Received", "SmtpSink", "smtp_server", "smtp_sink"]
