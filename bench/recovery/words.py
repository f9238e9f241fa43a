"""Words for the generated catalog: a vocabulary of a few thousand words drawn with a Zipf
distribution, so keyword search meets common words (in a large share of the rows), rare ones
(in a few) and everything between.

The head of the vocabulary is real English of mail and office files; the tail is made of
syllables (deterministic for the seed), like the names, jargon and codes of a real mailbox.
"""

from __future__ import annotations

import itertools
import random
from array import array

_HEAD_TEXT = """
the to and of a in for is on that with you this be it at we are from have as your will not
can by please our if or all about meeting report project team thanks new an would more
update time review any one next week today been there client contract budget plan draft
schedule call let know attached file information also should need but invoice order was
they here price account support service question customer quarter sales data design
details list final approval office request agenda notes issue document payment market
product status change policy summary travel follow presentation access training version
proposal deadline launch board minutes feedback analysis strategy forecast revenue cost
hiring onboarding security release server backup migration network license audit
vendor shipment warehouse inventory expense receipt reimbursement holiday conference
workshop webinar newsletter campaign survey results target goal milestone roadmap
partner legal compliance privacy incident ticket outage maintenance upgrade password
"""
HEAD = _HEAD_TEXT.split()

_ONSETS = ["", "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p"]
_ONSETS += ["pr", "qu", "r", "s", "sh", "st", "t", "tr", "v", "w", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
_CODAS = ["", "", "n", "r", "s", "l", "t", "nd", "rk", "st", "x", "m"]


def vocabulary(size: int = 4000, seed: int = 7) -> list[str]:
    """`size` distinct lowercase words: the real head first (most frequent), then made-up ones."""
    rnd = random.Random(seed)
    words = list(dict.fromkeys(HEAD))
    seen = set(words)
    while len(words) < size:
        word = "".join(
            rnd.choice(_ONSETS) + rnd.choice(_VOWELS) + rnd.choice(_CODAS) for _ in range(rnd.randint(2, 3))
        )
        if 4 <= len(word) <= 12 and word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Words:
    """A long Zipf-distributed stream of word numbers; texts are windows of it."""

    def __init__(self, seed: int, size: int = 4000, stream: int = 4_000_000, exponent: float = 1.0) -> None:
        self.vocab = vocabulary(size)
        self._ranks = {word: rank for rank, word in enumerate(self.vocab, 1)}
        rnd = random.Random(seed)
        weights = list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, len(self.vocab) + 1)))
        self.stream = array("H", rnd.choices(range(len(self.vocab)), cum_weights=weights, k=stream))
        total = weights[-1]
        self.share = [(w - (weights[i - 1] if i else 0.0)) / total for i, w in enumerate(weights)]
        self.rnd = rnd

    def text(self, count: int) -> str:
        start = self.rnd.randrange(len(self.stream) - count)
        vocab = self.vocab
        return " ".join([vocab[i] for i in self.stream[start : start + count]])

    def words(self, count: int) -> list[str]:
        start = self.rnd.randrange(len(self.stream) - count)
        vocab = self.vocab
        return [vocab[i] for i in self.stream[start : start + count]]

    def rank(self, word: str) -> int:
        return self._ranks[word]
