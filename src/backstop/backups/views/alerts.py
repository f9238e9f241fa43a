"""Smart alerts on the task page: acknowledging one (the badge itself is drawn by the entity
table, see `table_context`)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backstop.audit import events
from backstop.backups import anomaly
from backstop.backups.models import SmartAlert
from backstop.backups.views.common import get_task
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view


@account_view(perms.VIEW_TASKS)
@require_POST
def acknowledge(request: HttpRequest, access: AccountAccess, task_id: int, alert_id: int) -> HttpResponse:
    """The alert stops showing; its entity's next anomaly alerts again. 404 for an alert out of
    this account and task, 403 when the role may see the task but not modify it."""
    task = get_task(request, access, task_id, perms.MODIFY_TASKS)
    alert = (
        SmartAlert.objects.restrict(request.user, perms.MODIFY_TASKS)
        .filter(account=access.account, task=task, pk=alert_id)
        .select_related("entity")
        .first()
    )
    if alert is None:
        raise Http404("No such smart alert")
    anomaly.acknowledge(alert, request.user)
    events.settings_changed(
        request,
        access.account,
        f"Smart alert acknowledged: {alert.label} in {alert.entity.name}",
        service=task.service,
        task_name=task.name,
    )
    messages.success(request, f"Smart alert on {alert.entity.name} acknowledged.")
    return redirect("backup_task", access.account.pk, task.pk)
