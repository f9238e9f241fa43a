"""The one HTTP client every HTTP connector uses (a plain library: no Django).

Retries, backoff and throttling live here and nowhere else:

- Every request waits for its (service, tenant) `limits.Limiter`: a token and a concurrent slot.
- 429 is retried for every method (the source did not process the request), waiting what
  `Retry-After` says (seconds or an HTTP date), else exponential backoff with jitter; any single
  wait is capped by `RetryPolicy.max_wait`.
- 500/502/503/504 and connections dropped after the request was sent (`httpx.ReadError`,
  `RemoteProtocolError`, timeouts while reading) are retried only for idempotent methods, or when
  the caller says the call is safe to repeat (`retry_safe=True`): a POST that reached the source
  may have done its work.
- Connections that never carried the request (`ConnectError`, `ConnectTimeout`, `PoolTimeout`)
  are retried for every method.
- When the budget (`max_attempts`) runs out: `errors.Throttled` (last status 429, with the last
  Retry-After) or `errors.Unavailable` (5xx, connection errors).
- 401: the `on_unauthorized` hook runs once (an OAuth refresh) and the request is repeated once;
  a second 401, or no hook, raises `errors.AuthError`.
- Any other status >= 400 raises `HttpStatusError` (a `SourceError` carrying the status and the
  JSON body) unless the caller lists it in `allow`, so connectors decide what a 404 or a 409 means.

The limiter's concurrent slot is held while a request is sent and its response headers come
back, not while a streamed body is read: a caller holding many open downloads cannot starve the
others (or deadlock itself), and Box and Graph count requests in flight, not open bodies.

Bodies that cannot be replayed (a file being uploaded) are passed as callables that build a fresh
body for each attempt. `download()` streams a body in chunks and resumes a dropped download with a
Range request. `sleep` is injectable so tests do not wait for minutes.
"""

from __future__ import annotations

import contextlib
import email.utils
import json as jsonlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx

from backstop.connectors.errors import AuthError, SourceError, Throttled, Unavailable
from backstop.connectors.limits import Limiter

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# The request never left this process: repeating it cannot do anything twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Headers = Mapping[str, str]
Body = Any  # a value, or a callable returning a fresh one for each attempt


class HttpStatusError(SourceError):
    """A status the caller did not allow. `body` is the parsed JSON (or None), `code` the
    service's error code when the body carries one (Box: "item_name_in_use", OAuth: "error")."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.method = response.request.method
        self.url = str(response.request.url.copy_with(query=None))
        self.text = response.text[:2000]
        try:
            self.body: Any = jsonlib.loads(response.text) if response.text else None
        except ValueError:
            self.body = None
        code = ""
        if isinstance(self.body, dict):
            code = str(self.body.get("code") or self.body.get("error") or "")
        self.code = code
        super().__init__(f"{self.method} {self.url}: HTTP {self.status} {code}".rstrip())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8  # attempts per call, the first included
    base: float = 0.5  # first backoff, doubled per attempt
    cap: float = 30.0  # largest backoff without a Retry-After
    max_wait: float = 120.0  # largest single wait, Retry-After included


DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


class HttpClient:
    """An `httpx.Client` with the limits, retries and error classes above.

    `auth` returns the headers that authenticate a request (called for every attempt, so a
    refreshed token is used at once). `on_unauthorized(request)` is called on a 401 with the
    request that was refused; it returns True when a retry may succeed (a new token).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Headers | None = None,
        timeout: httpx.Timeout | float | None = None,
        policy: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        auth: Callable[[], Headers] | None = None,
        on_unauthorized: Callable[[httpx.Request], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.auth = auth
        self.on_unauthorized = on_unauthorized
        self.sleep = sleep
        self._rng = rng
        self._now = now
        self.client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            follow_redirects=True,
            transport=transport,
        )

    # -- plumbing

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def backoff(self, attempt: int) -> float:
        """The wait before attempt `attempt + 1` (attempt counts from 1): exponential, capped,
        with "equal jitter" (half fixed, half random) so that many clients spread out."""
        delay = min(self.policy.cap, self.policy.base * (2 ** (attempt - 1)))
        return min(self.policy.max_wait, delay / 2 + self._rng() * delay / 2)

    def _build(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Headers | None,
        json: Body,
        data: Body,
        files: Body,
        content: Body,
        authenticate: bool,
    ) -> httpx.Request:
        def fresh(value: Body) -> Any:
            return value() if callable(value) else value

        all_headers: dict[str, str] = {}
        if authenticate and self.auth is not None:
            all_headers.update(self.auth())
        all_headers.update(headers or {})
        return self.client.build_request(
            method,
            url,
            params=params,
            headers=all_headers,
            json=fresh(json),
            data=fresh(data),
            files=fresh(files),
            content=fresh(content),
        )

    def _send(self, request: httpx.Request, stream: bool) -> httpx.Response:
        if self.limiter is None:
            return self.client.send(request, stream=stream)
        with self.limiter.slot():
            return self.client.send(request, stream=stream)

    # -- the call

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Headers | None = None,
        json: Body = None,
        data: Body = None,
        files: Body = None,
        content: Body = None,
        retry_safe: bool | None = None,
        authenticate: bool = True,
        allow: Iterable[int] = (),
        stream: bool = False,
    ) -> httpx.Response:
        """One call with retries. Returns the response for statuses < 400 and those in `allow`;
        with `stream=True` the body is not read yet (close the response)."""
        method = method.upper()
        repeatable = method in IDEMPOTENT if retry_safe is None else retry_safe
        allowed = frozenset(allow)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            request = self._build(method, url, params, headers, json, data, files, content, authenticate)
            try:
                response = self._send(request, stream)
            except httpx.TransportError as exc:
                if not (isinstance(exc, NOT_SENT) or repeatable):
                    raise Unavailable(f"{method} {_where(request)}: {type(exc).__name__}: {exc}") from exc
                if attempt >= self.policy.max_attempts:
                    raise Unavailable(
                        f"{method} {_where(request)}: {type(exc).__name__} after {attempt} attempts: {exc}"
                    ) from exc
                self.sleep(self.backoff(attempt))
                continue

            status = response.status_code
            if status == 401 and authenticate and self.on_unauthorized is not None and not refreshed:
                _discard(response)
                refreshed = True
                if self.on_unauthorized(request):
                    attempt -= 1  # the refresh is not the source's fault: keep the budget
                    continue
                raise AuthError(f"{method} {_where(request)}: HTTP 401, credentials refused")
            if status == 401 and 401 not in allowed:
                _discard(response)
                raise AuthError(f"{method} {_where(request)}: HTTP 401, credentials refused")
            if status == 429 and 429 not in allowed:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now)
                _discard(response)
                if attempt >= self.policy.max_attempts:
                    raise Throttled(
                        f"{method} {_where(request)}: still throttled (429) after {attempt} attempts",
                        retry_after=retry_after,
                    )
                wait = retry_after if retry_after is not None else self.backoff(attempt)
                self.sleep(min(wait, self.policy.max_wait))
                continue
            if status in RETRY_STATUSES and status not in allowed:
                if not repeatable:
                    _read(response)
                    raise Unavailable(f"{method} {_where(request)}: HTTP {status} (not repeated)")
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now)
                _discard(response)
                if attempt >= self.policy.max_attempts:
                    raise Unavailable(f"{method} {_where(request)}: HTTP {status} after {attempt} attempts")
                wait = retry_after if retry_after is not None else self.backoff(attempt)
                self.sleep(min(wait, self.policy.max_wait))
                continue
            if status >= 400 and status not in allowed:
                _read(response)
                raise HttpStatusError(response)
            return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """`request` and the parsed JSON body (None for an empty body)."""
        response = self.request(method, url, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{method} {url}: the answer is not JSON") from exc

    def download(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Headers | None = None,
        chunk_size: int | None = None,
    ) -> Iterator[bytes]:
        """Stream a GET body in chunks. A connection dropped mid-body is resumed where it broke
        (Range: bytes=N-; a server that ignores Range is read again and the first N bytes are
        skipped), within the same attempt budget as `request`. Chunks come as the network
        delivers them (`chunk_size` None), so a drop loses little."""
        delivered = 0
        drops = 0
        while True:
            extra = dict(headers or {})
            if delivered:
                extra["Range"] = f"bytes={delivered}-"
            response = self.request("GET", url, params=params, headers=extra, stream=True)
            try:
                skip = delivered if delivered and response.status_code != 206 else 0
                try:
                    for chunk in response.iter_bytes(chunk_size):
                        if skip:
                            if len(chunk) <= skip:
                                skip -= len(chunk)
                                continue
                            chunk, skip = chunk[skip:], 0
                        delivered += len(chunk)
                        yield chunk
                    return
                except httpx.TransportError as exc:
                    drops += 1
                    if drops >= self.policy.max_attempts:
                        raise Unavailable(f"GET {url}: dropped {drops} times while reading") from exc
                    self.sleep(self.backoff(drops))
            finally:
                response.close()


def _where(request: httpx.Request) -> str:
    return str(request.url.copy_with(query=None))


def _discard(response: httpx.Response) -> None:
    try:
        response.read()
    except httpx.HTTPError:
        pass
    finally:
        response.close()


def _read(response: httpx.Response) -> None:
    with contextlib.suppress(httpx.HTTPError):
        response.read()
