"""Reading what Backstop sent: messages and links out of the e-mails in the test's outbox."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

from backstop.mail import outbox_messages

URL_RE = re.compile(r"https?://[^\s<>\"']+")


def messages_to(outbox: Path, address: str) -> list[EmailMessage]:
    """Messages for `address` in the outbox folder, oldest first."""
    found = []
    for path in outbox_messages(outbox):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        if address.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def body_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, "the message has no plain-text part"
    return str(body.get_content())  # type: ignore[attr-defined]


def newest_link(outbox: Path, address: str, contains: str) -> tuple[str, EmailMessage]:
    """(path and query, message) of the first link containing `contains` in the newest e-mail
    to `address` that has one. Paths, not URLs: tests replay them against their own server."""
    messages = messages_to(outbox, address)
    assert messages, f"no e-mail to {address} in {outbox}"
    for message in reversed(messages):
        for url in URL_RE.findall(body_of(message)):
            if contains in url:
                parts = urlsplit(url)
                return parts.path + (f"?{parts.query}" if parts.query else ""), message
    raise AssertionError(f"no link with {contains!r} in mail to {address}")


def last_link(outbox: Path, address: str, contains: str) -> str:
    return newest_link(outbox, address, contains)[0]
