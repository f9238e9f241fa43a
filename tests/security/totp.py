"""RFC 6238 codes computed independently of allauth, as an authenticator app would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time


def code(secret: str, at: float | None = None, step: int = 0) -> str:
    counter = int((at if at is not None else time.time()) // 30) + step
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
