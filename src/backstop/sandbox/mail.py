"""Seeded, realistic RFC 822 messages for the IMAP tests and the demo.

    from backstop.sandbox.mail import generate_messages
    for raw in generate_messages(100, seed=1):   # bytes, CRLF line endings
        imap.append("INBOX", raw)

The mix: plain text, multipart/alternative (text + HTML), mixed with attachments (a PDF-like
blob, a CSV, an image), non-ASCII subjects (RFC 2047 encoded words) and bodies (UTF-8, some
ISO-8859-1 quoted-printable), and threads (Re: with In-Reply-To and References). The same
(n, seed) gives the same bytes: dates count back from a fixed instant, ids come from the seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

_PEOPLE = [
    ("Ada Lovelace", "ada@acme.test"),
    ("Bob Builder", "bob@acme.test"),
    ("Chloé Dubois", "chloe@globex.test"),
    ("Jürgen Müller", "juergen@example.de"),
    ("Hiro Tanaka", "hiro@example.jp"),
    ("Søren Kierkegaard", "soren@example.dk"),
    ("Priya Natarajan", "priya@initech.test"),
    ("Zoë O'Brien", "zoe@example.ie"),
]
_SUBJECTS = [
    "Quarterly report",
    "Lunch on Friday?",
    "Invoice #{n}",
    "Réunion de lundi",
    "Übersicht der Verträge",
    "会議の議事録",
    "Отчёт за месяц",
    "Budget 2024 – final numbers",  # noqa: RUF001
    "Photos from the offsite 🎉",
    "Re: contract draft",
    "Your ticket {n} has been updated",
    "Reminder: password expires",
]
_LINES = [
    "Hi all,",
    "Please find the numbers below.",
    "Merci pour votre retour rapide.",
    "Die Unterlagen liegen im gemeinsamen Ordner.",
    "よろしくお願いします。",
    "Let me know if anything is unclear.",
    "Cheers,",
    "See the attached file for details.",
    "Naïve café owners résumé: ok.",
    "> quoted text from an earlier message",
]
_EPOCH = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _body(rnd: random.Random) -> str:
    return "\r\n".join(rnd.choice(_LINES) for _ in range(rnd.randint(2, 12))) + "\r\n"


def _message(rnd: random.Random, index: int, seed: int, thread: list[tuple[str, str]]) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    sender, to = rnd.sample(_PEOPLE, 2)
    msg["From"] = f"{sender[0]} <{sender[1]}>"
    msg["To"] = f"{to[0]} <{to[1]}>"
    if rnd.random() < 0.3:
        cc = rnd.choice(_PEOPLE)
        msg["Cc"] = f"{cc[0]} <{cc[1]}>"
    if thread and rnd.random() < 0.35:
        parent_id, parent_subject = rnd.choice(thread)
        subject = parent_subject if parent_subject.startswith("Re: ") else f"Re: {parent_subject}"
        msg["In-Reply-To"] = parent_id
        msg["References"] = parent_id
    else:
        subject = rnd.choice(_SUBJECTS).format(n=rnd.randint(100, 99999))
    msg["Subject"] = subject
    when = _EPOCH - timedelta(minutes=index * 37 + rnd.randint(0, 30))
    msg["Date"] = format_datetime(when)
    msg_id = f"<{seed}.{index}.{rnd.getrandbits(40):x}@sandbox.backstop.test>"
    msg["Message-ID"] = msg_id
    thread.append((msg_id, subject))

    kind = rnd.random()
    text = _body(rnd)
    if kind < 0.1:
        legacy = text.encode("latin-1", "replace").decode("latin-1")
        msg.set_content(legacy, charset="iso-8859-1", cte="quoted-printable")
    else:
        msg.set_content(text, cte=rnd.choice(["8bit", "quoted-printable", "base64"]))
    if 0.35 < kind < 0.75:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace("\r\n", "<br>\r\n")
        msg.add_alternative(f"<html><body><p>{escaped}</p></body></html>\r\n", subtype="html")
    if kind > 0.6:
        for _ in range(rnd.randint(1, 2)):
            choice = rnd.randrange(3)
            if choice == 0:
                data = b"%PDF-1.4\n" + rnd.randbytes(rnd.randint(500, 20_000))
                msg.add_attachment(
                    data, maintype="application", subtype="pdf", filename=f"report-{index}.pdf"
                )
            elif choice == 1:
                rows = "\r\n".join(f"{i},{rnd.randint(0, 999)},Zürich" for i in range(rnd.randint(3, 50)))
                msg.add_attachment(rows.encode(), maintype="text", subtype="csv", filename="données.csv")
            else:
                data = b"\x89PNG\r\n\x1a\n" + rnd.randbytes(rnd.randint(200, 8_000))
                msg.add_attachment(data, maintype="image", subtype="png", filename=f"photo {index}.png")
    return msg


def generate_messages(n: int, seed: int = 1) -> Iterator[bytes]:
    """`n` messages as bytes (CRLF), newest first, deterministic for (n, seed)."""
    rnd = random.Random(seed)
    thread: list[tuple[str, str]] = []
    for index in range(n):
        msg = _message(rnd, index, seed, thread)
        for k, part in enumerate(msg.walk()):  # the default boundaries are random
            if part.is_multipart():
                part.set_boundary(f"==sandbox.{seed}.{index}.{k}==")
        yield msg.as_bytes()
