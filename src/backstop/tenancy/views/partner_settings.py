"""Partner Settings > Account (P-SETTINGS): the partner's details and its default subscription
type for the accounts it adds. Anyone with "View partner portal settings" reads it; only
administrators change it, and every change is audited with what changed."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from backstop.audit import events
from backstop.tenancy import permissions as perms
from backstop.tenancy.forms_partner import PartnerAccountForm
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.views.decorators import partner_view


@partner_view(perms.PARTNER_VIEW_SETTINGS)
def account(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    can_manage = membership.allows(perms.MANAGE_ACCOUNT)
    form = PartnerAccountForm(instance=partner)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only administrators change the partner settings.")
        before = model_to_dict(partner, fields=PartnerAccountForm.Meta.fields)
        form = PartnerAccountForm(request.POST, instance=partner)
        if form.is_valid():
            form.save()
            if changes := form.changes(before):
                events.settings_changed(request, partner, "Partner settings changed: " + "; ".join(changes))
            messages.success(request, "Partner settings saved.")
            return redirect("partner_settings", partner_id=partner.pk)
    return render(
        request,
        "tenancy/partner_settings/account.html",
        {
            "partner": partner,
            "membership": membership,
            "form": form,
            "can_manage": can_manage,
            "tab": "account",
        },
    )
