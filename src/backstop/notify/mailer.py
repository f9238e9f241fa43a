"""One way to send a notice: an HTML e-mail with a plain-text alternative, one message per
recipient (each is greeted by their display name and sees no other recipient's address, and may
be given context of its own: why they receive it, where to change that)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[Backstop] "


def absolute(path: str) -> str:
    """A link for an e-mail: the site's base URL and an absolute path."""
    return settings.BACKSTOP_BASE_URL.rstrip("/") + path


Addressed = tuple[str, str] | tuple[str, str, Mapping[str, Any]]


def send(
    recipients: Iterable[Addressed],
    subject: str,
    template: str,
    context: Mapping[str, Any],
    attachments: Sequence[tuple[str, str | bytes, str]] = (),
) -> int:
    """Sends `<template>.txt` and `.html` (e.g. "notify/email/exceptions") to each (e-mail,
    name) or (e-mail, name, context of that recipient only); returns how many messages went out.
    `attachments` are (filename, content, mimetype). One recipient the relay refuses does not
    keep the others from theirs; only when every message failed does the error reach the caller
    (who may then try again later without sending anyone a copy twice)."""
    sent = 0
    failure: Exception | None = None
    seen: set[str] = set()
    subject = (SUBJECT_PREFIX + subject).replace("\n", " ")[:200]
    for addressed in recipients:
        email, name = addressed[0], addressed[1]
        own: Mapping[str, Any] = addressed[2] if len(addressed) == 3 else {}
        if email.lower() in seen:
            continue
        seen.add(email.lower())
        data = {**context, **own, "recipient_name": name, "recipient_email": email}
        message = EmailMultiAlternatives(
            subject,
            render_to_string(f"{template}.txt", data),
            None,
            [formataddr((name, email)) if name else email],
        )
        message.attach_alternative(render_to_string(f"{template}.html", data), "text/html")
        for filename, content, mimetype in attachments:
            message.attach(filename, content, mimetype)
        try:
            message.send()
        except Exception as exc:
            log.warning("a notice to %s could not be sent: %s", email, exc)
            failure = exc
            continue
        sent += 1
    if failure is not None and not sent:
        raise failure
    return sent
