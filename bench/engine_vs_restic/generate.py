"""Seeded, deterministic data sets shaped like what Backstop backs up.

Every item's content is a pure function of (seed, item number, version), so a data set can be
generated once, changed, and put back to its first state without keeping copies:

- mail: mail-like text items (headers, prose paragraphs, some quoted replies, some base64
  attachments), organised as users/<user>/<folder>/<n>.eml; compresses about 2-3x with zstd.
- large: big files, half random bytes (incompressible), half log-like text.

A change set k rewrites 1 % of the items (version k) and adds 1 % new ones; its list of paths is
what a connector's change feed would hand the engine.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

FOLDERS = ("INBOX", "Sent", "Archive", "Projects")
STATE_FILE = ".dataset.json"

_COMMON = """the of and to a in is it you that he was for on are with as I his they be at one have
this from or had by hot but some what there we can out other were all your when up use word how
said an each she which do their time if will way about many then them would write like so these her
long make thing see him two has look more day could go come did my sound no most number who over
know water than call first people may down side been now find any new work part take get place made
live where after back little only round man year came show every good me give our under name very
through just form much great think say help low line before turn cause same mean differ move right
boy old too does tell sentence set three want air well also play small end put home read hand port
large spell add even land here must big high such follow act why ask men change went light kind off
need house picture try us again animal point mother world near build self earth father head stand
own page should country found answer school grow study still learn plant cover food sun four thought
let keep eye never last door between city tree cross since hard start might story saw far sea draw
left late run while press close night real life few stop meeting invoice report quarterly budget
review deadline project client contract attached please regards thanks schedule update team manager
shipment order account payment support ticket release version server backup storage migration
""".split()  # noqa: SIM905


def _pseudo_words(rng: random.Random, n: int) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ter",
        "van",
        "dor",
        "el",
        "qu",
        "ix",
        "bra",
        "sto",
        "ne",
        "ru",
        "pha",
        "zen",
    ]
    return ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(n)]


@lru_cache(maxsize=4)
def _sentences(seed: int) -> tuple[str, ...]:
    """A pool of prose sentences built from a Zipf-weighted vocabulary."""
    rng = random.Random(f"{seed}/vocabulary")
    vocabulary = _COMMON + _pseudo_words(rng, 4000)
    cumulative = list(itertools.accumulate(1 / (rank + 2.7) for rank in range(len(vocabulary))))
    pool = []
    for _ in range(20_000):
        words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(5, 22))
        text = " ".join(words)
        pool.append(text[0].upper() + text[1:] + rng.choice(".....?!"))
    return tuple(pool)


@lru_cache(maxsize=4)
def _names(seed: int) -> tuple[str, ...]:
    rng = random.Random(f"{seed}/names")
    return tuple(w.capitalize() for w in _pseudo_words(rng, 2000))


@dataclass(frozen=True)
class Spec:
    kind: str  # "mail" | "large"
    count: int
    min_size: int
    max_size: int
    seed: int = 1

    @property
    def users(self) -> int:
        return max(1, self.count // 1000)

    def path(self, i: int) -> str:
        if self.kind == "mail":
            user, folder = i % self.users, (i // self.users) % len(FOLDERS)
            return f"user{user:04d}/{FOLDERS[folder]}/{i:07d}.eml"
        return f"files/{i:04d}.bin" if i % 2 else f"logs/{i:04d}.log"

    def _rng(self, i: int, version: int) -> random.Random:
        return random.Random(f"{self.seed}/{self.kind}/{i}/{version}")

    def content(self, i: int, version: int = 0) -> bytes:
        rng = self._rng(i, version)
        size = rng.randint(self.min_size, self.max_size)
        if self.kind == "mail":
            return _mail(rng, self, i, size)
        if i % 2:
            return rng.randbytes(size)
        return _log(rng, self.seed, size)

    # -- change sets

    def change_set(self, k: int) -> tuple[list[int], list[int]]:
        """Items rewritten and items added by change set k (1, 2, ...)."""
        m = max(1, self.count // 100)
        changed = sorted(random.Random(f"{self.seed}/{self.kind}/change/{k}").sample(range(self.count), m))
        added = list(range(self.count + (k - 1) * m, self.count + k * m))
        return changed, added


def _mail(rng: random.Random, spec: Spec, i: int, size: int) -> bytes:
    sentences, names = _sentences(spec.seed), _names(spec.seed)
    sender, recipient = rng.choice(names), names[(i % spec.users) % len(names)]
    domain = rng.choice(("example.com", "example.net", "example.org", "mail.example.io"))
    day, hour, minute = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
    head = (
        f"Return-Path: <{sender.lower()}@{domain}>\r\n"
        f"Received: from mx{rng.randint(1, 9)}.{domain} (mx.{domain} [10.{rng.randint(0, 255)}."
        f"{rng.randint(0, 255)}.{rng.randint(1, 254)}])\r\n\tby mail.example.com with ESMTPS id "
        f"{rng.getrandbits(64):016x}\r\n\tfor <{recipient.lower()}@example.com>; "
        f"Tue, {day} May 2024 {hour:02d}:{minute:02d}:{rng.randint(0, 59):02d} +0000\r\n"
        f"Message-ID: <{rng.getrandbits(128):032x}@{domain}>\r\n"
        f"Date: Tue, {day} May 2024 {hour:02d}:{minute:02d}:00 +0000\r\n"
        f"From: {sender} {rng.choice(names)} <{sender.lower()}@{domain}>\r\n"
        f"To: {recipient} <{recipient.lower()}@example.com>\r\n"
        f"Subject: {rng.choice(sentences)[:70]}\r\n"
        "MIME-Version: 1.0\r\n"
    )
    attachment = rng.random() < 0.15
    if attachment:
        head += 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    head += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    text_size = int(size * 0.6) if attachment else size
    parts, length = [head], len(head)
    while length < text_size:
        paragraph = " ".join(rng.choices(sentences, k=rng.randint(2, 7))) + "\r\n\r\n"
        if rng.random() < 0.15:  # a quoted earlier message
            paragraph = "> " + paragraph.replace(". ", ".\r\n> ")
        parts.append(paragraph)
        length += len(paragraph)
    if attachment:
        blob = base64.encodebytes(rng.randbytes(max(0, (size - length) * 3 // 4))).decode()
        parts.append('--b1\r\nContent-Type: application/pdf; name="scan.pdf"\r\n')
        parts.append("Content-Transfer-Encoding: base64\r\n\r\n" + blob + "--b1--\r\n")
    data = "".join(parts).encode()
    return data[:size] if len(data) >= size else data + b"\r\n" * ((size - len(data)) // 2 + 1)


@lru_cache(maxsize=4)
def _log_lines(seed: int) -> tuple[str, ...]:
    rng = random.Random(f"{seed}/log")
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    return tuple(
        f"{rng.choice(levels)} [worker-{rng.randint(1, 32)}] {sentence} took={rng.randint(1, 900)}ms"
        for sentence in _sentences(seed)
    )


def _log(rng: random.Random, seed: int, size: int) -> bytes:
    pool = _log_lines(seed)
    out, length, t = [], 0, 1_714_521_600_000 + rng.randint(0, 10**9)
    while length < size:
        block = "".join(
            f"ts={t + n * 731} {line} req={rng.getrandbits(32):08x}\n"
            for n, line in enumerate(rng.choices(pool, k=1000))
        )
        t += 731_000
        out.append(block)
        length += len(block)
    return "".join(out).encode()[:size]


# -- writing to disk


def _write(root: Path, spec: Spec, items: list[tuple[int, int]]) -> int:
    total, made = 0, set()
    for i, version in items:
        target = root / spec.path(i)
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        data = spec.content(i, version)
        target.write_bytes(data)
        total += len(data)
    return total


def _write_parallel(root: Path, spec: Spec, items: list[tuple[int, int]]) -> int:
    workers = os.cpu_count() or 2
    if len(items) < 200 or workers < 2:
        return _write(root, spec, items)
    step = max(1, len(items) // (workers * 8))
    batches = [items[n : n + step] for n in range(0, len(items), step)]
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_write, [root] * len(batches), [spec] * len(batches), batches))


@dataclass
class ChangeSet:
    number: int
    paths: list[str]  # rewritten and new items, relative to the data set's root
    changed: int
    added: int
    bytes: int  # size of the rewritten and new items
    manifest: Path


class Dataset:
    """A data set on disk; reused between runs when its spec matches (and put back to version 0)."""

    def __init__(self, root: Path, spec: Spec) -> None:
        self.root, self.spec = root, spec
        self.bytes = 0
        self.applied: list[int] = []

    @property
    def state_file(self) -> Path:
        return self.root.parent / f"{self.root.name}{STATE_FILE}"

    def _save(self) -> None:
        state = {"spec": asdict(self.spec), "bytes": self.bytes, "applied": self.applied}
        self.state_file.write_text(json.dumps(state))

    def prepare(self) -> bool:
        """Generates the data set, or reuses and resets an existing one. True when generated."""
        if self.state_file.exists() and self.root.is_dir():
            state = json.loads(self.state_file.read_text())
            if state["spec"] == asdict(self.spec):
                self.bytes, self.applied = state["bytes"], state["applied"]
                self.reset()
                return False
        shutil.rmtree(self.root, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
        self.root.mkdir(parents=True)
        self.bytes = _write_parallel(self.root, self.spec, [(i, 0) for i in range(self.spec.count)])
        self.applied = []
        self._save()
        return True

    def reset(self) -> None:
        """Undoes every applied change set."""
        rewrite: set[int] = set()
        for k in self.applied:
            changed, added = self.spec.change_set(k)
            rewrite.update(changed)
            for i in added:
                (self.root / self.spec.path(i)).unlink(missing_ok=True)
        _write_parallel(self.root, self.spec, [(i, 0) for i in sorted(rewrite)])
        self.applied = []
        self._save()

    def apply(self, k: int, manifest_dir: Path, version: int | None = None) -> ChangeSet:
        """Writes change set k: its rewritten items at `version` (k by default), its new items at
        version - k (0 by default). Applying it again with an earlier version brings back content
        the repository has seen before."""
        version = k if version is None else version
        changed, added = self.spec.change_set(k)
        items = [(i, version) for i in changed] + [(i, version - k) for i in added]
        self.applied.append(k)
        self._save()
        written = _write_parallel(self.root, self.spec, items)
        paths = [self.spec.path(i) for i, _ in items]
        manifest_dir.mkdir(parents=True, exist_ok=True)
        manifest = manifest_dir / f"{self.root.name}-changes-{k}-v{version}.txt"
        manifest.write_text("\n".join(paths) + "\n")
        return ChangeSet(k, paths, len(changed), len(added), written, manifest)

    def count_items(self) -> int:
        return self.spec.count + sum(len(self.spec.change_set(k)[1]) for k in self.applied)
