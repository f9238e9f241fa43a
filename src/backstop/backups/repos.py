"""Each customer account's repository: one per account in its region's store, or in the
customer's own storage when the account has one (BYOS, P-ADD), with its own data key wrapped by
the installation's master key (X-ENCRYPT)."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from backstop.engine.errors import RepositoryExists, RepositoryNotFound
from backstop.engine.repository import Repository
from backstop.engine.stores import Store, open_store
from backstop.tenancy.models import Account

_init_lock = threading.Lock()


def repository_location(account: Account) -> tuple[str, dict[str, Any]]:
    """(url, options) of the account's repository for `open_store`: under its data center's
    store, or in the customer's own bucket with its credentials as options (never in the URL)."""
    from backstop.backups import byos
    from backstop.backups.models import AccountStorage

    try:
        storage = AccountStorage.objects.get(account_id=account.pk)
    except AccountStorage.DoesNotExist:
        base = settings.BACKSTOP_STORAGE[account.region].rstrip("/")
        return f"{base}/accounts/a{account.pk}", {}
    base, options = byos.location(storage)
    return f"{base.rstrip('/')}/accounts/a{account.pk}", options


def repository_url(account: Account) -> str:
    """Where the account's repository is (no credentials): the data center's, or its own storage."""
    return repository_location(account)[0]


def repository_store(account: Account) -> Store:
    url, options = repository_location(account)
    return open_store(url, options)


def open_repository(account: Account, create: bool = True) -> Repository:
    """The account's repository; created on first use when `create`."""
    store = repository_store(account)
    try:
        return Repository.open(store, settings.BACKSTOP_MASTER_KEY)
    except RepositoryNotFound:
        if not create:
            raise
    with _init_lock:
        try:
            return Repository.init(store, settings.BACKSTOP_MASTER_KEY)
        except RepositoryExists:
            # Another process created it between our open and init.
            return Repository.open(store, settings.BACKSTOP_MASTER_KEY)


def delete_repository(account: Account) -> int:
    """Every object of the account's repository (the account's removal, after its grace)."""
    store = repository_store(account)
    objects = store.list("")
    for info in objects:
        store.delete(info.key)
    return len(objects)
