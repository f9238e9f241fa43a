"""The shared HTTP layer: retries, backoff, Retry-After, 401 refresh, budgets, rate and concurrency.

Most tests script the server with `httpx.MockTransport` and an injected sleep (nothing really
waits); two run against a real local HTTP server: one honours a real 1 s Retry-After, one survives
connections the server drops without answering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from backstop.connectors import limits
from backstop.connectors.errors import AuthError, Throttled, Unavailable
from backstop.connectors.http import HttpClient, HttpStatusError, RetryPolicy, parse_retry_after
from backstop.connectors.limits import Limit, Limiter, TokenBucket

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests from a list of responses (or exceptions to raise), then 200 "ok"."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.answers:
            return httpx.Response(200, text="ok")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)


def make(script: Script, **kwargs: object) -> tuple[HttpClient, list[float]]:
    slept: list[float] = []
    client = HttpClient(
        "https://api.test",
        transport=httpx.MockTransport(script),
        sleep=slept.append,
        rng=lambda: 0.5,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, slept


def r(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"type": "error", "status": status})


# -- backoff and Retry-After


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    client = HttpClient(policy=RetryPolicy(base=1.0, cap=8.0), rng=lambda: 1.0)
    assert [client.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    client = HttpClient(policy=RetryPolicy(base=1.0, cap=8.0), rng=lambda: 0.0)
    assert [client.backoff(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]


def test_server_errors_are_retried_with_backoff() -> None:
    script = Script(r(503), r(500), r(502), r(504))
    client, slept = make(script, policy=RetryPolicy(base=1.0, cap=100.0))
    assert client.get("/x").text == "ok"
    assert len(script.requests) == 5
    assert slept == [0.75, 1.5, 3.0, 6.0]  # jitter fixed at the middle


def test_retry_after_in_seconds_is_honoured() -> None:
    script = Script(r(429, **{"Retry-After": "3"}), r(429, **{"Retry-After": "0"}))
    client, slept = make(script)
    assert client.get("/x").status_code == 200
    assert slept == [3.0, 0.0]


def test_retry_after_as_an_http_date_is_honoured() -> None:
    now = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 7, UTC), usegmt=True)
    assert parse_retry_after(date, lambda: now) == pytest.approx(7.0)
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None
    script = Script(r(429, **{"Retry-After": date}))
    client, slept = make(script, now=lambda: now)
    client.get("/x")
    assert slept == [pytest.approx(7.0)]


def test_retry_after_is_capped_by_the_max_wait() -> None:
    script = Script(r(429, **{"Retry-After": "3600"}))
    client, slept = make(script, policy=RetryPolicy(max_wait=120.0))
    client.get("/x")
    assert slept == [120.0]


def test_429_without_retry_after_backs_off() -> None:
    script = Script(r(429))
    client, slept = make(script, policy=RetryPolicy(base=2.0))
    client.get("/x")
    assert slept == [1.5]


# -- budgets


def test_throttled_after_the_budget_with_the_last_hint() -> None:
    script = Script(*[r(429, **{"Retry-After": "2"}) for _ in range(10)])
    client, slept = make(script, policy=RetryPolicy(max_attempts=8))
    with pytest.raises(Throttled) as caught:
        client.get("/x")
    assert caught.value.retry_after == 2.0
    assert len(script.requests) == 8 and len(slept) == 7


def test_unavailable_after_the_budget_of_server_errors() -> None:
    script = Script(*[r(500) for _ in range(10)])
    client, _ = make(script, policy=RetryPolicy(max_attempts=4))
    with pytest.raises(Unavailable):
        client.get("/x")
    assert len(script.requests) == 4


def test_unavailable_after_the_budget_of_connection_errors() -> None:
    script = Script(*[httpx.ConnectError("refused") for _ in range(10)])
    client, _ = make(script, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(Unavailable):
        client.get("/x")
    assert len(script.requests) == 3


# -- what may be repeated


def test_a_post_is_not_repeated_after_a_server_error_or_a_read_drop() -> None:
    script = Script(r(500))
    client, _ = make(script)
    with pytest.raises(Unavailable):
        client.post("/x", json={"a": 1})
    assert len(script.requests) == 1
    script = Script(httpx.ReadError("reset"))
    client, _ = make(script)
    with pytest.raises(Unavailable):
        client.post("/x", json={"a": 1})
    assert len(script.requests) == 1


def test_a_post_is_repeated_after_429_a_refused_connection_or_when_safe() -> None:
    script = Script(r(429, **{"Retry-After": "1"}), httpx.ConnectError("refused"))
    client, _ = make(script)
    assert client.post("/x", json={}).status_code == 200
    assert len(script.requests) == 3
    script = Script(r(503), httpx.ReadError("reset"))
    client, _ = make(script)
    assert client.post("/x", json={}, retry_safe=True).status_code == 200
    assert len(script.requests) == 3


def test_a_put_or_get_is_repeated_after_a_drop() -> None:
    script = Script(httpx.ReadError("reset"), httpx.RemoteProtocolError("closed"))
    client, _ = make(script)
    assert client.put("/x", json={}).status_code == 200
    assert len(script.requests) == 3


def test_a_body_given_as_a_callable_is_rebuilt_for_each_attempt() -> None:
    opened: list[int] = []

    def body() -> bytes:
        opened.append(1)
        return b"payload"

    script = Script(r(503), r(503))
    client, _ = make(script)
    client.post("/upload", content=body, retry_safe=True)
    assert len(opened) == 3
    assert [req.content for req in script.requests] == [b"payload"] * 3


# -- 401 and other statuses


def test_401_calls_the_refresh_hook_once_and_repeats_with_the_new_token() -> None:
    token = {"value": "old"}
    calls: list[str] = []

    def refresh(request: httpx.Request) -> bool:
        calls.append(request.headers["Authorization"])
        token["value"] = "new"
        return True

    script = Script(r(401))
    client, _ = make(
        script, auth=lambda: {"Authorization": f"Bearer {token['value']}"}, on_unauthorized=refresh
    )
    assert client.get("/x").status_code == 200
    assert calls == ["Bearer old"]
    assert [q.headers["Authorization"] for q in script.requests] == ["Bearer old", "Bearer new"]


def test_401_again_after_refresh_or_without_a_hook_is_an_auth_error() -> None:
    calls: list[int] = []
    script = Script(r(401), r(401), r(401))

    def hook(request: httpx.Request) -> bool:
        calls.append(1)
        return True

    client, _ = make(script, on_unauthorized=hook)
    with pytest.raises(AuthError):
        client.get("/x")
    assert calls == [1] and len(script.requests) == 2

    script = Script(r(401))
    client, _ = make(script)
    with pytest.raises(AuthError):
        client.get("/x")

    script = Script(r(401))
    client, _ = make(script, on_unauthorized=lambda _: False)
    with pytest.raises(AuthError):
        client.get("/x")
    assert len(script.requests) == 1


def test_other_errors_carry_status_and_code_unless_allowed() -> None:
    conflict = httpx.Response(409, json={"type": "error", "status": 409, "code": "item_name_in_use"})
    client, _ = make(Script(conflict))
    with pytest.raises(HttpStatusError) as caught:
        client.post("/files", json={})
    assert caught.value.status == 409 and caught.value.code == "item_name_in_use"
    assert caught.value.body["status"] == 409
    client, _ = make(Script(r(404)))
    assert client.get("/gone", allow=[404]).status_code == 404


# -- streaming downloads


def _body_then_drop(body: bytes, upto: int) -> Iterator[bytes]:
    yield body[:upto]
    raise httpx.ReadError("connection reset mid-body")


def test_a_download_resumes_with_range_after_a_drop() -> None:
    body = bytes(range(256)) * 100

    def first(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Stream(_body_then_drop(body, 1000)))

    def ranged(request: httpx.Request) -> httpx.Response:
        start = int(request.headers["Range"].split("=")[1].rstrip("-"))
        return httpx.Response(206, content=body[start:])

    script = Script(first, ranged)
    client, slept = make(script)
    assert b"".join(client.download("/content")) == body
    assert script.requests[1].headers["Range"] == "bytes=1000-" and len(slept) == 1


def test_a_download_restarts_and_skips_when_range_is_ignored() -> None:
    body = b"abcdefghij" * 1000

    def first(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Stream(_body_then_drop(body, 1234)))

    script = Script(first, httpx.Response(200, content=body))
    client, _ = make(script)
    assert b"".join(client.download("/content", chunk_size=100)) == body


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


# -- a real server: a real Retry-After wait, dropped connections


class _Server(BaseHTTPRequestHandler):
    plan: list[str] = []
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "drop":
            self.close_connection = True
            return  # no answer at all: the client sees the connection close
        if step == "429":
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_real_retry_after_of_one_second_is_waited(server: str) -> None:
    _Server.plan, _Server.seen = ["429"], []
    with HttpClient(server) as client:
        started = time.monotonic()
        assert client.get("/x").text == "ok"
        assert time.monotonic() - started >= 0.95
    assert len(_Server.seen) == 2


def test_dropped_connections_are_retried(server: str) -> None:
    _Server.plan, _Server.seen = ["drop", "drop"], []
    slept: list[float] = []
    with HttpClient(server, sleep=slept.append) as client:
        assert client.get("/x").text == "ok"
    assert len(_Server.seen) == 3 and len(slept) == 2


# -- limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0.0
    for _ in range(10):
        bucket.acquire()
    assert clock.now == pytest.approx(1.0)  # 10 more at 10 per second
    clock.now += 100  # a quiet period saves up only `burst` tokens
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]


def test_token_bucket_really_paces_threads() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    started = time.monotonic()
    threads = [threading.Thread(target=bucket.acquire) for _ in range(11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 0.18  # 10 tokens after the first at 50/s


def test_concurrency_is_limited_across_threads() -> None:
    limiter = Limiter(Limit(rate=1000, burst=1000, concurrency=2))

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        return httpx.Response(200)

    client = HttpClient("https://api.test", transport=httpx.MockTransport(slow), limiter=limiter)
    threads = [threading.Thread(target=client.get, args=("/x",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limiter.peak_in_flight == 2 and limiter.in_flight == 0


def test_limiters_are_shared_per_service_and_tenant() -> None:
    limits.reset()
    try:
        a = limits.for_source("box", "tenant-a")
        assert limits.for_source("box", "tenant-a") is a
        assert limits.for_source("box", "tenant-b") is not a
        assert a.limit == Limit(rate=10.0, burst=20, concurrency=8)
        assert limits.for_source("box", "t-c", {"rate": 2, "concurrency": 1}).limit == Limit(2.0, 20, 1)
        limits.configure("box", rate=3)
        assert limits.for_source("box", "t-d").limit.rate == 3.0
        assert limits.for_source("unknown-service", "x").limit == limits.DEFAULTS["*"]
    finally:
        limits.reset()
