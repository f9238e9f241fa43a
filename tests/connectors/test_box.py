"""The Box connector against the Box emulator over real HTTP: the conformance suite, then what is
Box's own (OAuth, enterprise users as themselves, versions, events, throttling, restore modes)."""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backstop.connectors.base import (
    Connector,
    Delete,
    DeleteFolder,
    EntityInfo,
    Item,
    RestoreItem,
    RestoreOptions,
    RestoreResult,
    Upsert,
)
from backstop.connectors.box import BoxConnector, authorization_url, exchange_code
from backstop.connectors.errors import AuthError, ItemError, Throttled, Unavailable
from backstop.connectors.http import RetryPolicy
from backstop.sandbox.box import BoxSandbox
from tests.connectors.box_harness import SEED, BoxHarness
from tests.connectors.conformance import *  # noqa: F403
from tests.connectors.conformance import Mirror, NewCursor, _sha


@pytest.fixture(scope="module")
def _emulator() -> Iterator[BoxSandbox]:
    with BoxSandbox() as sb:
        yield sb


@pytest.fixture
def sandbox(_emulator: BoxSandbox) -> Iterator[BoxSandbox]:
    """One emulator for the module (stopping one takes half a second); each test gets its own
    enterprise (see BoxHarness), no faults and fresh request counts."""
    _emulator.faults.clear()
    _emulator.stats.reset()
    _emulator.state.expired_stream_position = "resume"
    yield _emulator
    _emulator.faults.clear()


@pytest.fixture
def harness(sandbox: BoxSandbox) -> BoxHarness:
    return BoxHarness(sandbox)


# -- helpers


def _mirror(harness: BoxHarness, entity: EntityInfo | None = None, **kwargs: Any) -> Mirror:
    m = Mirror(harness.connector(**kwargs), entity or harness.entity())
    m.sync(None)
    return m


def _read(connector: Connector, entity: EntityInfo, item: Item) -> bytes:
    content = connector.open(entity, item)
    assert not isinstance(content, bytes | bytearray) and not hasattr(content, "read"), "streamed"
    return b"".join(content)


def _paths(m: Mirror) -> set[str]:
    return set(m.by_path())


def _form(page: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action, page
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in hidden.items()}


# -- OAuth


def test_oauth_consent_code_exchange_then_discover(harness: BoxHarness) -> None:
    url = authorization_url(harness.settings, "state-42")
    assert url.startswith(harness.settings["authorize_url"] + "?")
    with httpx.Client() as browser:
        page = browser.get(url)
        assert page.status_code == 200
        action, fields = _form(page.text)
        granted = browser.post(action, data={**fields, "user_id": harness.admin.id, "consent": "accept"})
    assert granted.status_code == 302
    query = parse_qs(urlsplit(granted.headers["Location"]).query)
    assert query["state"] == ["state-42"]
    secrets = exchange_code(harness.settings, query["code"][0])
    assert secrets["access_token"] and secrets["refresh_token"] and secrets["expires_at"] > time.time()
    with BoxConnector(harness.settings, secrets) as connector:
        connector.check()
        found = {e.key: e for e in connector.discover()}
    assert set(found) == {harness.admin.id, harness.user.id}
    assert (
        found[harness.user.id].email == "bob@conformance.test"
        and found[harness.user.id].name == "Bob Builder"
    )
    # A code is single-use.
    with pytest.raises(AuthError):
        exchange_code(harness.settings, query["code"][0])


def test_a_plain_users_token_discovers_only_that_user(harness: BoxHarness) -> None:
    token = harness.state.issue_token(harness.user)
    secrets = {"access_token": token.access_token, "refresh_token": token.refresh_token}
    with BoxConnector(harness.settings, secrets) as connector:
        assert [e.key for e in connector.discover()] == [harness.user.id]
        m = Mirror(connector, harness.entity())
        m.sync(None)
    assert "Documents/report.txt" in _paths(m)


def test_an_expired_token_is_refreshed_and_the_rotated_one_saved(harness: BoxHarness) -> None:
    harness.secrets["expires_at"] = time.time() - 10
    first_refresh = harness.secrets["refresh_token"]
    with harness.connector() as connector:
        connector.check()
        assert len(harness.saved) == 1
        assert harness.saved[0]["refresh_token"] != first_refresh
        assert harness.saved[0]["expires_at"] > time.time() + 3000
        # Box answers 401 before our clock says so: refreshed on the 401, saved again.
        harness.state.expire_access_tokens()
        assert [e.key for e in connector.discover()]
        assert (
            len(harness.saved) == 2 and harness.saved[1]["refresh_token"] != harness.saved[0]["refresh_token"]
        )
    # The rotated-away refresh token is dead at Box: only the saved one works.
    with pytest.raises(Exception, match="invalid_grant"):
        harness.state.refresh_token(first_refresh, harness.sandbox.client_id, harness.sandbox.client_secret)
    with harness.connector() as connector:
        connector.check()


def test_a_revoked_grant_is_an_auth_error(harness: BoxHarness) -> None:
    harness.state.revoke_user_tokens(harness.admin)
    with harness.connector() as connector, pytest.raises(AuthError):
        connector.check()
    harness.secrets["expires_at"] = time.time() - 10  # straight to the refresh: invalid_grant
    with harness.connector() as connector, pytest.raises(AuthError):
        list(connector.discover())
    assert harness.saved == []


# -- users


def test_every_user_is_backed_up_as_that_user(harness: BoxHarness) -> None:
    st = harness.state
    carol = st.user(harness.enterprise, "Carol Clerk", login="carol@conformance.test")
    docs = st.folder(None, "Documents", user=carol)
    st.file(docs, "carol-only.txt", b"carol's secret")
    with harness.connector() as connector:
        entities = {e.key: e for e in connector.discover()}
    assert set(entities) == {harness.admin.id, harness.user.id, carol.id}
    bob = _mirror(harness, entities[harness.user.id])
    carol_m = _mirror(harness, entities[carol.id])
    assert _paths(carol_m) == {"Documents/carol-only.txt"}
    assert not set(bob.items) & set(carol_m.items)
    assert "Documents/carol-only.txt" not in _paths(bob)
    # Carol's changes are not Bob's news, and the other way round.
    st.file(docs, "carol-2.txt", b"more")
    assert bob.sync() == []
    assert [c.item.path for c in carol_m.sync() if isinstance(c, Upsert)] == ["Documents/carol-2.txt"]
    assert harness.sandbox.stats.count(r"/2\.0/users$") >= 1


# -- versions


def test_previous_versions_are_items_and_their_content_downloads(harness: BoxHarness) -> None:
    st = harness.state
    report = harness.find("Documents/report.txt")
    original = report.current.blob.read()
    st.new_version(report, b"second version")
    st.new_version(report, b"third version")
    m = _mirror(harness)
    current, _ = m.items[report.id]
    assert current.kind == "file" and current.path == "Documents/report.txt"
    versions = [item for item, _ in m.items.values() if item.kind == "file_version"]
    assert len(versions) == 2 and current.meta["versions"] == [v.meta["file_version_id"] for v in versions]
    assert {v.key for v in versions} == {f"{report.id}@{v.id}" for v in report.versions[:-1]}
    by_version = {v.meta["file_version_id"]: v for v in versions}
    first, second = (by_version[v.id] for v in report.versions[:-1])
    assert first.path == f"Documents/report.txt@v{first.meta['file_version_id']}"
    assert first.meta["version_of"] == report.id and first.name == "report.txt"
    assert _read(m.connector, m.entity, first) == original
    assert _read(m.connector, m.entity, second) == b"second version"
    assert _read(m.connector, m.entity, current) == b"third version"
    assert m.sync() == []  # versions do not come again as news
    # A later rename moves the file and its versions together.
    st.rename(report, "report-final.txt")
    news = m.sync()
    assert {c.item.key for c in news if isinstance(c, Upsert)} == {current.key, first.key, second.key}
    assert {p for p in _paths(m) if p.startswith("Documents/report")} == {
        "Documents/report-final.txt",
        f"Documents/report-final.txt@v{first.meta['file_version_id']}",
        f"Documents/report-final.txt@v{second.meta['file_version_id']}",
    }


# -- the change feed


def test_incremental_sees_create_version_rename_move_trash_and_folder_rename(harness: BoxHarness) -> None:
    st, stats = harness.state, harness.sandbox.stats
    m = _mirror(harness)
    listing_calls = stats.count(r"/2\.0/folders/\d+/items")

    created = st.file(harness.find("Documents"), "new.txt", b"new file")
    news = m.sync()
    assert [c.item.path for c in news if isinstance(c, Upsert)] == ["Documents/new.txt"]
    assert m.items[created.id][1] == _sha(b"new file")

    st.new_version(created, b"new file, second version")
    news = m.sync()
    assert {c.item.kind for c in news if isinstance(c, Upsert)} == {"file", "file_version"}
    assert m.items[created.id][1] == _sha(b"new file, second version")

    st.rename(created, "renamed.txt")
    m.sync()
    assert m.items[created.id][0].path == "Documents/renamed.txt"

    st.move(created, harness.find("Photos"))
    m.sync()
    assert m.items[created.id][0].path == "Photos/renamed.txt"
    assert all(not p.startswith("Documents/renamed") for p in _paths(m))

    st.delete(created)
    news = m.sync()
    assert created.id not in m.items and not any(k.startswith(created.id + "@") for k in m.items)
    assert Delete(created.id) in news

    downloads = stats.count(r"/content")
    st.rename(harness.find("Documents/Projects"), "Plans")
    news = m.sync()
    assert {p for p in _paths(m) if p.startswith("Documents/P")} == {
        "Documents/Plans/plan.txt",
        "Documents/Plans/Drafts/idea.txt",
    }
    assert DeleteFolder("Documents/Projects") in news
    assert stats.count(r"/content") == downloads, "a folder rename downloaded content again"

    # A moved folder, then a trashed one.
    st.move(harness.find("Documents/Plans/Drafts"), harness.find("Photos"))
    m.sync()
    assert "Photos/Drafts/idea.txt" in _paths(m)
    st.delete(harness.find("Photos"))
    news = m.sync()
    assert not any(p.startswith("Photos/") for p in _paths(m)) and DeleteFolder("Photos") in news
    # No full listing after the first: events only (a folder walk only for the renamed one).
    assert stats.count(r"/2\.0/folders/0/items") == 1
    assert stats.count(r"/2\.0/folders/\d+/items") < listing_calls + 6
    assert m.sync() == []


def test_an_expired_stream_position_falls_back_to_a_full_listing(harness: BoxHarness) -> None:
    st = harness.state
    st.expired_stream_position = "error"
    m = _mirror(harness)
    before = {key: item.version for key, (item, _) in m.items.items()}
    added = st.file(harness.find("Documents"), "while-away.txt", b"added while the cursor aged")
    st.advance(20 * 24 * 3600)  # beyond the event retention: Box refuses the position
    news = m.sync()
    assert [c.item.key for c in news if isinstance(c, Upsert)] == [added.id]
    assert {k: i.version for k, (i, _) in m.items.items() if k != added.id} == before
    assert harness.sandbox.stats.count(r"/2\.0/folders/0/items") == 2


def test_an_old_cursor_is_not_trusted_even_when_box_would_resume(harness: BoxHarness) -> None:
    m = _mirror(harness)
    state = json.loads(m.cursor or "")
    state["taken_at"] -= 30 * 24 * 3600
    news = m.sync(json.dumps(state))
    assert news == []
    assert harness.sandbox.stats.count(r"/2\.0/folders/0/items") == 2
    assert json.loads(m.cursor or "")["taken_at"] > state["taken_at"]


# -- throttling and faults


def test_a_429_storm_is_waited_out_as_told(harness: BoxHarness) -> None:
    m = _mirror(harness)
    harness.sleeps.clear()
    harness.state.file(harness.find("Documents"), "during-storm.txt", b"x")
    harness.sandbox.faults.add("429", times=30, retry_after=1)
    connector = harness.connector(policy=RetryPolicy(max_attempts=40))
    m.connector = connector
    news = m.sync()
    assert [c.item.name for c in news if isinstance(c, Upsert)] == ["during-storm.txt"]
    assert harness.sleeps == [1.0] * 30


def test_a_429_storm_longer_than_the_budget_is_throttled(harness: BoxHarness) -> None:
    harness.sandbox.faults.add("429", times=30, retry_after=0)
    with harness.connector() as connector, pytest.raises(Throttled) as caught:
        connector.check()
    assert caught.value.retry_after == 0.0 and harness.sleeps == [0.0] * 7


def test_a_real_retry_after_of_one_second(harness: BoxHarness) -> None:
    harness.sandbox.faults.add("429", path=r"/users/me", times=1, retry_after=1)
    with harness.connector(sleep=time.sleep) as connector:
        started = time.monotonic()
        connector.check()
        assert time.monotonic() - started >= 0.95


def test_downloads_failing_with_500_are_item_errors_and_the_rest_succeed(harness: BoxHarness) -> None:
    st = harness.state
    folder = harness.find("Documents")
    files = [st.file(folder, f"bulk-{n:02}.txt", f"bulk {n}\n".encode() * 10) for n in range(40)]
    broken = {files[7].id, files[23].id}  # 5 %
    for file_id in broken:
        harness.sandbox.faults.add("500", path=rf"/2\.0/files/{file_id}/content")
    with harness.connector() as connector:
        items = [
            c.item
            for c in connector.changes(harness.entity(), None, Mirror(connector, harness.entity()))
            if isinstance(c, Upsert)
        ]
        failed, read = set(), 0
        for item in items:
            try:
                _read(connector, harness.entity(), item)
                read += 1
            except ItemError as exc:
                assert exc.key == item.key
                failed.add(item.key)
    assert failed == broken and read == len(items) - 2
    assert harness.sleeps, "the failing downloads were retried with backoff first"


def test_a_source_failing_every_download_is_unavailable(harness: BoxHarness) -> None:
    m = _mirror(harness)
    harness.sandbox.faults.add("503", path=r"/content", retry_after=0)
    items = sorted((item for item, _ in m.items.values()), key=lambda i: i.path)
    errors: list[type[Exception]] = []
    with harness.connector(policy=RetryPolicy(max_attempts=2)) as connector:
        for item in items:
            try:
                _read(connector, m.entity, item)
            except (ItemError, Unavailable) as exc:
                errors.append(type(exc))
                if isinstance(exc, Unavailable):
                    break
    assert errors == [ItemError] * 4 + [Unavailable]


def test_dropped_connections_are_retried(harness: BoxHarness) -> None:
    faults = harness.sandbox.faults
    faults.add("drop", path=r"/2\.0/folders/\d+/items", times=2)
    faults.add("drop", path=r"/d/1/", times=2)
    faults.add("drop", path=r"/2\.0/events", times=1)
    m = _mirror(harness)
    assert {digest for _, digest in m.items.values()} == {_sha(c) for c in SEED.values()}
    assert all(rule.fired == rule.times for rule in faults.rules)


# -- restore


def _restore(m: Mirror, item: Item, data: bytes, target: str, options: RestoreOptions) -> list[RestoreResult]:
    return list(m.connector.restore(m.entity, [RestoreItem(item, lambda: io.BytesIO(data), target)], options))


def test_restore_modes_keep_name_and_content_modified_at(harness: BoxHarness) -> None:
    st = harness.state
    m = _mirror(harness)
    item, _ = m.by_path()["Documents/report.txt"]
    live = harness.find("Documents/report.txt")
    data = b"restored bytes"

    # Into a new folder tree: created, name and content_modified_at kept.
    [result] = _restore(m, item, data, "Restore/2024/report.txt", RestoreOptions("new"))
    assert result.status == "restored" and result.new_key
    restored = st.get(result.new_key)
    assert restored.name == "report.txt" and restored.current.blob.read() == data
    assert restored.content_modified_at == live.content_modified_at
    assert harness.find("Restore/2024").id == restored.parent_id

    # new over an existing name: beside it, under a dated name.
    [result] = _restore(m, item, data, "Documents/report.txt", RestoreOptions("new"))
    assert result.status == "restored"
    beside = st.get(result.new_key)
    assert re.fullmatch(r"report \(restored \d{4}-\d\d-\d\d\)\.txt", beside.name)
    [again] = _restore(m, item, data, "Documents/report.txt", RestoreOptions("new"))
    assert re.fullmatch(r"report \(restored \d{4}-\d\d-\d\d 2\)\.txt", st.get(again.new_key).name)

    # bypass: nothing written.
    versions = len(live.versions)
    [result] = _restore(m, item, b"other", "Documents/report.txt", RestoreOptions("bypass"))
    assert result.status == "skipped" and len(live.versions) == versions

    # replace: a new version of the live file, with the original content_modified_at.
    [result] = _restore(m, item, b"replaced", "Documents/report.txt", RestoreOptions("replace"))
    assert result.status == "restored" and result.new_key == live.id
    assert len(live.versions) == versions + 1 and live.current.blob.read() == b"replaced"
    assert (
        live.current.content_modified_at
        == st.get(live.id).content_modified_at
        == restored.content_modified_at
    )

    # new + as_version: also a new version.
    [result] = _restore(
        m, item, b"as version", "Documents/report.txt", RestoreOptions("new", as_version=True)
    )
    assert result.status == "restored" and live.current.blob.read() == b"as version"
    assert len(live.versions) == versions + 2


def test_an_old_version_is_restored_as_a_new_version_of_its_file(harness: BoxHarness) -> None:
    st = harness.state
    live = harness.find("Documents/report.txt")
    original = live.current.blob.read()
    st.new_version(live, b"a mistake")
    m = _mirror(harness)
    [old] = [item for item, _ in m.items.values() if item.kind == "file_version"]
    data = _read(m.connector, m.entity, old)
    assert data == original
    [result] = _restore(m, old, data, old.path, RestoreOptions("new", as_version=True))
    assert result.status == "restored" and result.new_key == live.id
    assert live.current.blob.read() == original and live.name == "report.txt"


def test_restore_failures_are_results(harness: BoxHarness) -> None:
    m = _mirror(harness)
    item, _ = m.by_path()["readme.txt"]
    # A file where the target folder should be.
    [result] = _restore(m, item, b"x", "readme.txt/inside.txt", RestoreOptions("new"))
    assert result.status == "failed" and "in the way" in result.message


# -- threads


def test_concurrent_downloads_share_the_limiter(harness: BoxHarness) -> None:
    harness.settings = {
        **harness.settings,
        "tenant_key": "box-threads",
        "limits": {"rate": 10_000, "burst": 10_000, "concurrency": 2},
    }
    harness.sandbox.faults.latency = 0.01
    try:
        m = _mirror(harness)
        items = [item for item, _ in m.items.values()]
        with ThreadPoolExecutor(8) as pool:
            digests = list(pool.map(lambda i: _sha(_read(m.connector, m.entity, i)), items * 3))
    finally:
        harness.sandbox.faults.latency = 0.0
    assert digests == [m.items[i.key][1] for i in items * 3]
    limiter = m.connector.limiter  # type: ignore[attr-defined]
    assert limiter.peak_in_flight == 2 and limiter.in_flight == 0


def test_threads_refused_at_once_refresh_the_token_once(harness: BoxHarness) -> None:
    with harness.connector() as connector:
        connector.check()
        harness.state.expire_access_tokens()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: connector.check(), range(16)))
    assert len(harness.saved) == 1, "each refresh rotates the refresh token: one at a time"


def test_listings_and_events_are_paged(harness: BoxHarness) -> None:
    st, stats = harness.state, harness.sandbox.stats
    big = harness.ensure_folder(harness.user, "Big")
    with st.quiet():
        for n in range(2100):
            st.file(big, f"f{n:04}.txt", b"")
    empty = Mirror(harness.connector(), harness.entity())  # a Known with nothing in it
    with harness.connector() as connector:
        listed = list(connector.changes(harness.entity(), None, empty))
        files = [c.item for c in listed if isinstance(c, Upsert) and c.item.path.startswith("Big/")]
        assert len(files) == 2100 and len({f.key for f in files}) == 2100
        assert stats.count(rf"/2\.0/folders/{big.id}/items") == 3  # 1000 per page, marker paging
        cursor = listed[-1]
        assert isinstance(cursor, NewCursor)
        for n in range(700):
            st.file(big, f"g{n:04}.txt", b"")
        changes = list(connector.changes(harness.entity(), cursor.value, empty))
    assert len([c for c in changes if isinstance(c, Upsert)]) == 700
    assert stats.count(r"/2\.0/events") == 1 + 3  # the first "now"; 500, 200, then an empty page
