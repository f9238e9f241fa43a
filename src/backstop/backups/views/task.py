"""The task page (A-TASK header, A-SETTINGS form) and what acts on the whole task: rename,
reconnect, discover now, delete (A-DELTASK)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from backstop.audit import events
from backstop.backups import oauth, services
from backstop.backups.forms import ImapReconnectForm, RenameForm, TaskSettingsForm
from backstop.backups.models import DELETE_GRACE, BackupTask
from backstop.backups.views.add import check_imap_secret
from backstop.backups.views.common import SERVICE_ICONS, discover_with_message, get_task, info_of
from backstop.backups.views.entities import table_context
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view, is_htmx


def _page(
    request: HttpRequest,
    access: AccountAccess,
    task: BackupTask,
    settings_form: TaskSettingsForm | None = None,
    rename_form: RenameForm | None = None,
    status: int = 200,
) -> HttpResponse:
    service = task.service
    settings_form = settings_form or TaskSettingsForm(instance=task)
    entity_label = info_of(task).entity_label or "entities"
    settings_form.fields["auto_activate"].label = f"Automatically activate new {entity_label}"
    context = {
        "access": access,
        "account": access.account,
        "task": task,
        "info": info_of(task),
        "icon": SERVICE_ICONS.get(service, "cloud"),
        "settings_form": settings_form,
        "rename_form": rename_form or RenameForm(instance=task),
        "grace_days": DELETE_GRACE.days,
        "can_modify": access.can(perms.MODIFY_TASKS, service),
        "read_only": not access.can(perms.MODIFY_TASKS, service),
        "can_delete": access.can(perms.DELETE_TASKS, service),
        "can_activate": access.can(perms.ACTIVATE_TASKS, service),
        "can_execute": access.can(perms.EXECUTE_TASKS, service),
        "can_pause": access.can(perms.PAUSE_TASKS, service),
        "open_settings": bool(settings_form.errors) or request.GET.get("settings") == "1",
        **table_context(request, task),
    }
    return render(request, "backups/task.html", context, status=status)


@vary_on_headers("HX-Request")
@account_view(perms.VIEW_TASKS)
def task_page(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    task = get_task(request, access, task_id, perms.VIEW_TASKS)
    if is_htmx(request):  # live search, status filter, progress polling: the table only
        context = {"account": access.account, "task": task, **table_context(request, task)}
        return render(request, "backups/partials/entity_table.html", context)
    return _page(request, access, task)


@account_view(perms.MODIFY_TASKS)
@require_POST
def task_settings(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    task = get_task(request, access, task_id, perms.MODIFY_TASKS)
    form = TaskSettingsForm(request.POST, instance=task)
    if not form.is_valid():
        return _page(request, access, task, settings_form=form, status=400)
    form.save()
    messages.success(request, "Backup settings saved.")
    return redirect("backup_task", access.account.pk, task.pk)


@account_view(perms.MODIFY_TASKS)
@require_POST
def task_rename(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    task = get_task(request, access, task_id, perms.MODIFY_TASKS)
    old = task.name
    form = RenameForm(request.POST, instance=task)
    if not form.is_valid():
        task.name = old
        return _page(request, access, task, rename_form=form, status=400)
    form.save()
    messages.success(request, f"Renamed to “{task.name}”.")
    return redirect("backup_task", access.account.pk, task.pk)


@account_view(perms.MODIFY_TASKS)
def task_reconnect(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    """Box: authenticate again through its consent screen. IMAP: a new password or token."""
    task = get_task(request, access, task_id, perms.MODIFY_TASKS)
    if task.service == "box":
        if request.method == "POST":
            return oauth.start_box(request, access, name=task.name, task=task)
        form = None
    else:
        form = ImapReconnectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            secrets = check_imap_secret(form, task)
            if secrets is not None:
                services.reconnect_task(task, secrets)
                messages.success(request, f"“{task.name}” is connected again.")
                return redirect("backup_task", access.account.pk, task.pk)
    return render(
        request,
        "backups/reconnect.html",
        {"access": access, "account": access.account, "task": task, "form": form, "info": info_of(task)},
    )


@account_view(perms.MODIFY_TASKS)
@require_POST
def task_discover(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    task = get_task(request, access, task_id, perms.MODIFY_TASKS)
    counts = discover_with_message(request, task)
    if counts is not None:
        label = info_of(task).entity_label or "entities"
        found = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing changed"
        messages.success(request, f"Discovery of {label} done: {found}.")
    return redirect("backup_task", access.account.pk, task.pk)


@account_view(perms.DELETE_TASKS)
def task_delete(request: HttpRequest, access: AccountAccess, task_id: int) -> HttpResponse:
    task = get_task(request, access, task_id, perms.DELETE_TASKS)
    if request.method == "POST":
        services.delete_task(task)
        text = f"Backup task “{task.name}” deleted; its backups are purged after {DELETE_GRACE.days} days"
        events.backup_deleted(request, access.account, text, service=task.service, task_name=task.name)
        messages.warning(
            request,
            f"The backup task “{task.name}” was deleted. Its backups are kept {DELETE_GRACE.days} days "
            "in case this was a mistake; contact support within that time to get it back.",
        )
        return redirect("account_home", access.account.pk)
    return render(
        request,
        "backups/task_delete.html",
        {
            "access": access,
            "account": access.account,
            "task": task,
            "info": info_of(task),
            "grace_days": DELETE_GRACE.days,
            "entity_count": task.entities.filter(deleted_at__isnull=True).count(),
        },
    )
