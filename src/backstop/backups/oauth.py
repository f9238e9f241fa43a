"""Box's OAuth for backup tasks: the start (a redirect to Box's consent screen) and the callback.

The `state` sent to Box is signed (django.core.signing) and lives 10 minutes. It names the
account, the user who started, the task name and, when re-authenticating, the task. The callback
trusts none of it without checking again: the signed-in user must be the one who started, and
must still be allowed to add (or modify) Box tasks on that account. Tokens go straight into the
task's sealed secrets and are never rendered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from backstop.backups import services
from backstop.backups.connections import box_settings
from backstop.backups.models import BackupTask
from backstop.connectors import box as box_connector
from backstop.connectors.errors import ConnectorError
from backstop.security.middleware import enforce
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess, get_account_access

log = logging.getLogger(__name__)

STATE_SALT = "backstop.backups.box-oauth"
STATE_MAX_AGE = 10 * 60


def make_state(access: AccountAccess, user_id: int, name: str, task: BackupTask | None = None) -> str:
    data: dict[str, Any] = {"a": access.account.pk, "u": user_id, "n": name}
    if task is not None:
        data["t"] = task.pk
    return signing.dumps(data, salt=STATE_SALT, compress=True)


def start_box(
    request: HttpRequest, access: AccountAccess, *, name: str, task: BackupTask | None = None
) -> HttpResponse:
    """Sends the browser to Box's consent screen."""
    settings = box_settings()
    if settings is None:
        messages.error(request, "Box is not set up on this installation.")
        return redirect("backup_add", account_id=access.account.pk)
    state = make_state(access, request.user.pk or 0, name, task)
    return redirect(box_connector.authorization_url(settings, state))


def box_tenant(settings: Mapping[str, Any], tokens: Mapping[str, Any]) -> str:
    """The Box enterprise the grant belongs to (limits are counted per enterprise), else the
    user's id; "" when Box does not say."""
    try:
        with box_connector.BoxConnector(settings, tokens) as connector:
            return connector.tenant()
    except ConnectorError:
        log.warning("could not read the Box user behind a new grant", exc_info=True)
        return ""


@login_required
def box_callback(request: HttpRequest) -> HttpResponse:
    from backstop.backups.views.common import discover_with_message, get_task, short

    try:
        data = signing.loads(request.GET.get("state", ""), salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.SignatureExpired:
        messages.error(request, "The Box sign-in took more than 10 minutes. Please start again.")
        return redirect("home")
    except signing.BadSignature as error:
        raise Http404("Unknown sign-in") from error
    if not isinstance(data, dict) or data.get("u") != request.user.pk:
        raise Http404("This sign-in was started by someone else")
    task_id = data.get("t")
    action = perms.MODIFY_TASKS if task_id else perms.ACTIVATE_TASKS
    access = get_account_access(request.user, int(data.get("a", 0)), action)
    request.account_access = access  # type: ignore[attr-defined]  # the navigation of the account
    # The callback's URL names no account: the account's trusted addresses and 2FA apply here.
    if stop := enforce(request, account_id=access.account.pk):
        return stop
    if not access.can(action, "box"):
        raise PermissionDenied("Your role does not reach Box.")
    account_id = access.account.pk
    task = get_task(request, access, int(task_id), perms.MODIFY_TASKS) if task_id else None
    back = redirect("backup_task", account_id, task.pk) if task else redirect("backup_add", account_id)

    if request.GET.get("error"):
        reason = "you denied access" if request.GET["error"] == "access_denied" else request.GET["error"]
        messages.error(request, f"Box did not grant access ({reason[:100]}). Nothing was saved.")
        return back
    settings = box_settings()
    code = request.GET.get("code", "")
    if settings is None or not code:
        messages.error(request, "Box sent no authorization. Nothing was saved; please try again.")
        return back
    try:
        tokens = dict(box_connector.exchange_code(settings, code))
    except ConnectorError as error:
        messages.error(request, f"Box refused the authorization: {short(error)}. Nothing was saved.")
        return back
    if task is not None:
        services.reconnect_task(task, tokens)
        messages.success(request, f"“{task.name}” is connected to Box again.")
    else:
        tenant = box_tenant(settings, tokens)
        task = services.create_task(
            access.account,
            "box",
            str(data.get("n") or "Box")[:200],
            user=request.user,
            secrets=tokens,
            # Limits are shared per source tenant (connections.connector_for): per Box enterprise.
            source_tenant=tenant,
        )
        messages.success(request, f"“{task.name}” is connected. Check its settings, then activate its users.")
    discover_with_message(request, task)
    return redirect("backup_task", account_id, task.pk)
