# ruff: noqa: RUF001  (names in other scripts on purpose)
"""A seeded, realistic Box enterprise: users, nested folder trees, files and versions.

    from backstop.sandbox.box.seed import generate_enterprise
    gen = generate_enterprise(sb.state, users=20, files=50_000, versions_ratio=0.1, seed=1)
    gen.admin, gen.users, gen.files, gen.bytes

The same arguments give the same names, tree, sizes and bytes. Names include unicode, duplicates
in different folders and hostile-ish characters ("a:b?.txt", leading dots, emoji, very long).
Sizes are mostly small (log-normal around 12 KB) with a few large files (8-40 MB); content is a
`LazyBlob` derived from (seed, file, version), so 50,000 files cost little memory and no time
until they are read. Times lie in the past two years. No events are recorded.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from backstop.sandbox.box.store import Enterprise, Item, LazyBlob, State, User

FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Élodie", "Farah", "Günther", "Hiro", "Ines", "Jürgen",
         "Kasia", "Lars", "Mío", "Nadia", "Oğuz", "Priya", "Quentin", "Rosa", "Søren", "Tomás",
         "Ulla", "Vikram", "Wen", "Xavier", "Yuki", "Zoë"]  # fmt: skip
LAST = ["Andersson", "Brown", "Çelik", "Dubois", "Eriksen", "Fernández", "García", "Håkansson",
        "Ivanova", "Jones", "Kowalski", "López", "Müller", "Nguyen", "O'Brien", "Petrov", "Rossi",
        "Schmidt", "Tanaka", "Ünal", "Van der Berg", "Wang", "Yılmaz", "Zhang"]  # fmt: skip
FOLDERS = ["Documents", "Projects", "Archive", "2023", "2024", "Q1", "Q2", "Q3", "Q4", "Clients",
           "Invoices", "Drafts", "Shared", "Photos", "Marketing", "Verträge", "Données", "報告書",
           "Презентации", "Old stuff", "misc", "Budget & Planning", "Team – Offsite", "Backups",
           ".hidden", "Read me first", "ÜBER", "résumés", "Legal", "HR", "Design", "src"]  # fmt: skip
STEMS = ["report", "budget", "notes", "minutes", "invoice", "contract", "Präsentation", "résumé",
         "diagram", "photo", "scan", "draft", "final", "final (2)", "README", "plan", "日本語の資料",
         "отчёт", "summary", "data", "export", "a:b?", "what*is<this>", "émoji 🎉", "  spaced",
         "Copy of budget", "IMG_2041", "DSC00012", "meeting notes 2024-03-01"]  # fmt: skip
EXTENSIONS = [("txt", True, 8), ("md", True, 4), ("csv", True, 5), ("docx", False, 12), ("xlsx", False, 8),
              ("pdf", False, 14), ("pptx", False, 4), ("jpg", False, 14), ("png", False, 6),
              ("zip", False, 2), ("json", True, 3), ("mp4", False, 1), ("", False, 1)]  # fmt: skip
TWO_YEARS = 2 * 365 * 24 * 3600


@dataclass
class SeededEnterprise:
    enterprise: Enterprise
    admin: User
    users: list[User] = field(default_factory=list)
    folders: int = 0
    files: int = 0
    versions: int = 0
    bytes: int = 0


def _size(rnd: random.Random, scale: float) -> int:
    if rnd.random() < 0.001:
        return int(rnd.uniform(8, 40) * 1024 * 1024 * scale)
    return max(0, min(int(rnd.lognormvariate(math.log(12_000 * scale), 1.5)), int(8 * 1024 * 1024 * scale)))


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate.lower() in taken:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        n += 1
    taken.add(candidate.lower())
    return candidate


def _clean(name: str) -> str:
    name = name.replace("/", "-").replace("\\", "-")
    return name[:255].strip() or "unnamed"


def generate_enterprise(
    state: State,
    users: int = 20,
    files: int = 50_000,
    versions_ratio: float = 0.1,
    seed: int = 1,
    name: str | None = None,
    size_scale: float = 1.0,
) -> SeededEnterprise:
    """Fill `state` with one enterprise: `users` users (the first an admin), `files` files spread
    unevenly over them in nested folders, `versions_ratio` of them with 1-3 older versions."""
    rnd = random.Random(seed)
    now = state.now()
    with state.quiet():
        ent = state.enterprise(name or f"Seeded Enterprise {seed}")
        domain = f"seed{seed}.example"
        people: list[User] = []
        for i in range(users):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            login = f"{first.lower()}.{last.lower().replace(' ', '').replace(chr(39), '')}{i}@{domain}"
            people.append(state.user(ent, f"{first} {last}", login=login, role="admin" if i == 0 else "user"))
        out = SeededEnterprise(ent, people[0], people)
        # Uneven shares: a few heavy users, many light ones.
        weights = [1 / (i + 1) ** 0.8 for i in range(users)]
        total_w = sum(weights)
        shares = [int(files * w / total_w) for w in weights]
        shares[0] += files - sum(shares)
        for user, share in zip(people, shares, strict=True):
            _fill_user(state, user, share, versions_ratio, seed, rnd, now, size_scale, out)
    return out


def _fill_user(
    state: State,
    user: User,
    count: int,
    versions_ratio: float,
    seed: int,
    rnd: random.Random,
    now: float,
    scale: float,
    out: SeededEnterprise,
) -> None:
    root = state.root(user)
    folders: list[tuple[Item, int]] = [(root, 0)]
    taken: dict[str, set[str]] = {root.id: set()}
    n_folders = max(1, count // 15)
    for _ in range(n_folders):
        # Prefer shallow parents, so trees are bushy with a few deep branches.
        parent, depth = (
            folders[min(int(rnd.expovariate(0.15)), len(folders) - 1)]
            if rnd.random() < 0.5
            else rnd.choice(folders)
        )
        if depth >= 8:
            parent, depth = root, 0
        fname = _unique(
            _clean(rnd.choice(FOLDERS) + (f" {rnd.randint(1, 99)}" if rnd.random() < 0.2 else "")),
            taken[parent.id],
        )
        folder = state.folder(parent, fname)
        when = now - rnd.uniform(0, TWO_YEARS)
        folder.created_at = folder.modified_at = folder.content_created_at = folder.content_modified_at = when
        taken[folder.id] = set()
        folders.append((folder, depth + 1))
        out.folders += 1
    ext_weights = [w for _, _, w in EXTENSIONS]
    for _ in range(count):
        parent, _depth = rnd.choice(folders)
        ext, text, _w = rnd.choices(EXTENSIONS, ext_weights)[0]
        stem = rnd.choice(STEMS)
        if rnd.random() < 0.3:
            stem += f" {rnd.randint(1, 500)}"
        if rnd.random() < 0.002:
            stem = ("very long name " * 14).strip()
        fname = _unique(_clean(f"{stem}.{ext}" if ext else stem), taken[parent.id])
        size = _size(rnd, scale)
        modified = now - rnd.uniform(0, TWO_YEARS)
        created = modified - rnd.uniform(0, TWO_YEARS / 4)
        item = state.file(
            parent,
            fname,
            LazyBlob(f"{seed}:{out.files}:0", size, text),
            content_created_at=created,
            content_modified_at=modified,
        )
        item.created_at = item.modified_at = modified
        item.versions[0].created_at = item.versions[0].modified_at = modified
        out.files += 1
        out.bytes += size
        if rnd.random() < versions_ratio:
            older = rnd.randint(1, 3)
            first = item.versions[0]
            stamps = sorted(modified - rnd.uniform(0, TWO_YEARS / 2) for _ in range(older))
            # The current version was made first; make the older ones and move it to the end.
            item.versions.clear()
            for k, stamp in enumerate(stamps, start=1):
                vsize = _size(rnd, scale)
                state.new_version(
                    item, LazyBlob(f"{seed}:{out.files}:{k}", vsize, text), content_modified_at=stamp
                )
                item.versions[-1].created_at = item.versions[-1].modified_at = stamp
                out.versions += 1
                out.bytes += vsize
            item.versions.append(first)
            item.content_modified_at = modified
            item.modified_at = modified
