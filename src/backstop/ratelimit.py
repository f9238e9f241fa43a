"""A fixed-window counter in the shared cache, for forms allauth does not guard itself."""

from __future__ import annotations

from django.core.cache import cache


def allow(key: str, limit: int, period_seconds: int) -> bool:
    """Counts one attempt under `key`; False once `limit` attempts fell in the current window."""
    cache_key = f"backstop:ratelimit:{key}"
    cache.add(cache_key, 0, timeout=period_seconds)  # starts the window; no-op while it runs
    try:
        return cache.incr(cache_key) <= limit
    except ValueError:  # the window expired between add and incr
        cache.set(cache_key, 1, timeout=period_seconds)
        return True
