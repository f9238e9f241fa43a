"""A writer process for the crash tests: backs up many items into a repository, then commits."""

from __future__ import annotations

import random
import sys

from backstop.engine import Repository, open_store
from tests.engine.helpers import MASTER


def main(url: str, seed: int) -> None:
    repo = Repository.open(open_store(url), MASTER)
    rng = random.Random(seed)
    with repo.writer("imap/crash") as writer:
        for n in range(1500):
            writer.add(f"INBOX/{seed}-{n}.eml", {"n": n}, rng.randbytes(rng.randint(2_000, 40_000)))
        writer.commit()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
