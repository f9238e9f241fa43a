"""Secrets kept in the database (service passwords and tokens, storage credentials), sealed with
AES-256-GCM under a key derived from the master key. The context (say "task:42") is bound in as
associated data, so a sealed value copied onto another row does not open there."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

VERSION = b"\x01"


class SecretUnreadable(Exception):
    """Wrong master key, a damaged value, or a value sealed for another row."""


@cache
def _cipher(master_key: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"backstop database secrets v1").derive(
        master_key
    )
    return AESGCM(key)


def seal(value: Mapping[str, Any], context: str) -> bytes:
    nonce = os.urandom(12)
    data = json.dumps(dict(value), separators=(",", ":")).encode()
    return VERSION + nonce + _cipher(settings.BACKSTOP_MASTER_KEY).encrypt(nonce, data, context.encode())


def unseal(blob: bytes | memoryview | None, context: str) -> dict[str, Any]:
    if not blob:
        return {}
    raw = bytes(blob)
    if raw[:1] != VERSION:
        raise SecretUnreadable("unknown secret format")
    try:
        data = _cipher(settings.BACKSTOP_MASTER_KEY).decrypt(raw[1:13], raw[13:], context.encode())
    except InvalidTag as exc:
        raise SecretUnreadable(f"secret for {context} cannot be opened") from exc
    return json.loads(data)
