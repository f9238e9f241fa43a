"""Keys and ciphers of a repository.

Each repository has its own random keys: a data key (AES-256-GCM for every stored byte), a hash
key (keyed BLAKE3 names blobs, so equal content in two repositories gets unrelated ids) and a
chunker seed (so chunk boundaries cannot be compared across repositories). They are kept in key
objects, wrapped by a key derived from the installation's master key; rotating the master key
rewrites only those small objects.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import IntegrityError

NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
WRAP_INFO = b"backstop repository key wrapping v1"


@dataclass(frozen=True, slots=True, repr=False)
class RepoKeys:
    data_key: bytes
    hash_key: bytes
    chunker_seed: int

    @classmethod
    def generate(cls) -> RepoKeys:
        return cls(os.urandom(32), os.urandom(32), int.from_bytes(os.urandom(4)) or 1)


def wrapping_key(master_key: bytes, salt: bytes) -> bytes:
    if len(master_key) < 32:
        raise ValueError("the master key must be at least 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=WRAP_INFO).derive(master_key)


def seal(key: bytes, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, bytes(plaintext), aad)


def unseal(key: bytes, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
    if len(sealed) < OVERHEAD:
        raise IntegrityError(f"{what} is truncated")
    view = memoryview(sealed)
    try:
        return AESGCM(key).decrypt(view[:NONCE], view[NONCE:], aad)
    except InvalidTag:
        raise IntegrityError(
            f"{what} failed authentication: its bytes were changed or belong elsewhere"
        ) from None


class Crypto:
    """Blob ids and blob ciphers for one repository; safe to share between threads.

    AESGCM objects are kept per thread: measured here, sharing one between threads was slower.
    """

    def __init__(self, keys: RepoKeys) -> None:
        self.keys = keys
        self._local = threading.local()

    def blob_id(self, data: bytes | memoryview) -> bytes:
        return blake3.blake3(data, key=self.keys.hash_key).digest()

    def tag(self, text: str) -> str:
        """A stable keyed name for a string (entity names in object keys stay private)."""
        return blake3.blake3(b"tag:" + text.encode(), key=self.keys.hash_key).hexdigest()[:32]

    def _aead(self) -> AESGCM:
        aead = getattr(self._local, "aead", None)
        if aead is None:
            aead = self._local.aead = AESGCM(self.keys.data_key)
        return aead

    def encrypt_parts(self, plaintext: bytes | memoryview, aad: bytes) -> tuple[bytes, bytes]:
        """(nonce, ciphertext and tag): the packer appends both without joining them first."""
        nonce = os.urandom(NONCE)
        return nonce, self._aead().encrypt(nonce, plaintext, aad)

    def encrypt(self, plaintext: bytes | memoryview, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead().encrypt(nonce, plaintext, aad)

    def decrypt(self, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
        if len(sealed) < OVERHEAD:
            raise IntegrityError(f"{what} is truncated")
        view = memoryview(sealed)
        try:
            return self._aead().decrypt(view[:NONCE], view[NONCE:], aad)
        except InvalidTag:
            raise IntegrityError(f"{what} failed authentication: its bytes were changed") from None
