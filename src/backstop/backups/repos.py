"""Each customer account's repository: one per account in its region's store, with its own data
key wrapped by the installation's master key (X-ENCRYPT)."""

from __future__ import annotations

import threading

from django.conf import settings

from backstop.engine.errors import RepositoryExists, RepositoryNotFound
from backstop.engine.repository import Repository
from backstop.engine.stores import open_store
from backstop.tenancy.models import Account

_init_lock = threading.Lock()


def repository_url(account: Account) -> str:
    base = settings.BACKSTOP_STORAGE[account.region].rstrip("/")
    return f"{base}/accounts/a{account.pk}"


def open_repository(account: Account, create: bool = True) -> Repository:
    """The account's repository; created on first use when `create`."""
    store = open_store(repository_url(account))
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
    store = open_store(repository_url(account))
    objects = store.list("")
    for info in objects:
        store.delete(info.key)
    return len(objects)
