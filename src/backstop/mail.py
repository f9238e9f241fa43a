"""The embedded default's e-mail: every message lands as one `.eml` file in the outbox folder
(BACKSTOP_EMAIL_URL=file:///path), where an operator, the demo and the tests can open it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.utils import timezone


class OutboxBackend(BaseEmailBackend):
    def __init__(self, *, folder: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = Path(folder)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S.%f")
            final = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            partial = final.with_suffix(".tmp")
            # Write then rename, so a reader never sees half a message.
            partial.write_bytes(message.message().as_bytes())
            os.replace(partial, final)
            sent += 1
        return sent


def outbox_folder() -> Path | None:
    """The outbox folder when mail goes to one (the embedded default), else None."""
    mailer = settings.MAILERS["default"]
    if mailer["BACKEND"] != f"{__name__}.OutboxBackend":
        return None
    return Path(mailer["OPTIONS"]["folder"])


def outbox_messages(folder: Path | None = None) -> list[Path]:
    """The outbox's messages, oldest first."""
    root = folder or outbox_folder()
    return sorted(root.glob("*.eml")) if root and root.exists() else []
