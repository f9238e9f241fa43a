"""Reading what Backstop sent: links out of the e-mails in the test's outbox."""

from __future__ import annotations

import email
import re
from email.message import Message
from pathlib import Path

from backstop.mail import outbox_messages


def messages_to(outbox: Path, address: str) -> list[Message]:
    found = []
    for path in outbox_messages(outbox):
        message = email.message_from_bytes(path.read_bytes())
        if address.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def body_of(message: Message) -> str:
    if message.is_multipart():
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode()  # type: ignore[union-attr]
    return message.get_payload(decode=True).decode()  # type: ignore[union-attr]


def last_link(outbox: Path, address: str, contains: str) -> str:
    """The path of the last link containing `contains` in mail to `address`."""
    for message in reversed(messages_to(outbox, address)):
        for url in re.findall(r"https?://[^\s<>\"]+", body_of(message)):
            if contains in url:
                return re.sub(r"^https?://[^/]+", "", url)
    raise AssertionError(f"no link with {contains!r} in mail to {address}")
