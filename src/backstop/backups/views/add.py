"""Adding a backup task (A-TASK): the service picker, the IMAP form, the start of Box's OAuth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from backstop.backups import oauth, services
from backstop.backups.connections import ServiceInfo, connector_class
from backstop.backups.connections import services as all_services
from backstop.backups.forms import ImapReconnectForm, ImapTaskForm, TaskNameForm
from backstop.backups.models import BackupTask
from backstop.backups.views.common import SERVICE_ICONS, discover_with_message, short
from backstop.connectors.errors import AuthError, ConnectorError, SourceError, Unavailable
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view


@dataclass(frozen=True, slots=True)
class Choice:
    info: ServiceInfo
    icon: str
    allowed: bool  # the role may add tasks of this service


def _context(access: AccountAccess, **extra: object) -> dict[str, object]:
    return {"access": access, "account": access.account, **extra}


def _require_service(access: AccountAccess, code: str) -> ServiceInfo:
    info = next((s for s in all_services() if s.code == code), None)
    if info is None or not info.available:
        raise Http404("This service cannot be added")
    if not access.can(perms.ACTIVATE_TASKS, code):
        raise PermissionDenied("Your role does not reach this service.")
    return info


@account_view(perms.ACTIVATE_TASKS)
def picker(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    choices = [
        Choice(info, SERVICE_ICONS.get(info.code, "cloud"), access.can(perms.ACTIVATE_TASKS, info.code))
        for info in all_services()
    ]
    choices.sort(key=lambda c: (not c.info.available, not c.allowed))
    return render(request, "backups/add_picker.html", _context(access, choices=choices))


def check_imap(form: ImapTaskForm) -> bool:
    """Signs in to the server once; on failure the form carries a clear error."""
    return check_connection(form, form.connector_settings(), form.secrets())


def check_imap_secret(form: ImapReconnectForm, task: BackupTask) -> dict[str, str] | None:
    """The new secret of an IMAP task, once the server accepted it."""
    settings = dict(task.connector_settings)
    key = "access_token" if settings.get("auth") == "xoauth2" else "password"
    secrets = {key: form.cleaned_data["secret"]}
    return secrets if check_connection(form, settings, secrets) else None


def check_connection(form: forms.Form, settings: dict[str, Any], secrets: dict[str, str]) -> bool:
    where = f"{settings.get('host')}:{settings.get('port')}"
    try:
        with connector_class("imap")(settings, secrets) as connector:
            connector.check()
    except AuthError:
        form.add_error(
            "secret",
            "The server refused this user name and password (or token). Check them and try again.",
        )
    except Unavailable as error:
        form.add_error(None, f"Could not reach the IMAP server at {where}: {short(error)}")
    except SourceError as error:
        form.add_error(None, f"The IMAP server at {where} did not accept the connection: {short(error)}")
    except ConnectorError as error:
        form.add_error(None, f"The connection to {where} failed: {short(error)}")
    return not form.errors


@account_view(perms.ACTIVATE_TASKS)
def add_imap(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    info = _require_service(access, "imap")
    form = ImapTaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and check_imap(form):
        settings = form.connector_settings()
        task = services.create_task(
            access.account,
            "imap",
            form.cleaned_data["name"],
            user=request.user,
            connector_settings=settings,
            secrets=form.secrets(),
            source_tenant=settings["host"].lower(),
        )
        discover_with_message(request, task)
        messages.success(
            request, f"“{task.name}” is connected. Choose its settings and activate its mailbox."
        )
        return redirect("backup_task", account_id=access.account.pk, task_id=task.pk)
    return render(request, "backups/add_imap.html", _context(access, form=form, info=info))


@account_view(perms.ACTIVATE_TASKS)
def add_box(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    info = _require_service(access, "box")
    form = TaskNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return oauth.start_box(request, access, name=form.cleaned_data["name"])
    return render(request, "backups/add_box.html", _context(access, form=form, info=info))
