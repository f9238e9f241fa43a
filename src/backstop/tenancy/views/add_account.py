"""Add account (P-ADD): the partner's form, and the page that follows with "Activate backups"."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from backstop import ratelimit
from backstop.backups.models import AccountStorage
from backstop.billing import subscriptions
from backstop.tenancy import permissions as perms
from backstop.tenancy.add_account import AddAccountError, NewAccount, add_account
from backstop.tenancy.forms_add_account import AddAccountForm
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of
from backstop.tenancy.views.decorators import partner_view

# Each attempt may reach out to a storage service and tells whether an address is taken.
ADD_ACCOUNT_LIMIT = (30, 3600)  # attempts per partner per hour


@partner_view(perms.PARTNER_ADD_ACCOUNTS)
def new_account(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    form = AddAccountForm(request.POST or None, partner=partner)
    status = 200
    if request.method == "POST":
        if not ratelimit.allow(f"add-account:{partner.pk}", *ADD_ACCOUNT_LIMIT):
            form.is_valid()
            form.add_error(None, "Too many accounts added in the last hour. Try again later.")
            status = 429
        elif form.is_valid():
            data = form.cleaned_data
            storage, credentials = form.storage()
            new = NewAccount(
                name=data["name"],
                email=data["email"],
                password=data["password1"],
                region=data.get("region") or partner.region,
                kind=data["subscription_kind"],
                plan=data.get("plan") or "",
                storage=storage,
                credentials=credentials,
            )
            try:
                account = add_account(request, partner, membership, new)
            except AddAccountError as exc:
                form.add_storage_error(exc.field, exc.message)
            else:
                return redirect("partner_add_account_done", partner.pk, account.pk)
    chosen_where = form["where"].value() or "datacenter"
    chosen_kind = form["storage_kind"].value() or "s3"
    context = {
        "partner": partner,
        "membership": membership,
        "form": form,
        "chosen_where": chosen_where,
        "chosen_kind": chosen_kind,
        "chosen_subscription": form["subscription_kind"].value(),
    }
    return render(request, "tenancy/add_account/form.html", context, status=status)


@partner_view(perms.PARTNER_ADD_ACCOUNTS)
def account_added(
    request: HttpRequest, partner: Partner, membership: Membership, account_id: int
) -> HttpResponse:
    account = (
        Account.objects.filter(reach_of(membership), partner=partner, pk=account_id)
        .select_related("subscription")
        .distinct()
        .first()
    )
    if account is None:
        raise Http404("No such account")
    storage = AccountStorage.objects.filter(account=account).first()
    may_activate = Account.objects.restrict(request.user, perms.ACTIVATE_TASKS).filter(pk=account.pk).exists()
    context = {
        "partner": partner,
        "membership": membership,
        "account": account,
        "storage": storage,
        "standing": subscriptions.standing(account),
        "may_activate": may_activate,
    }
    return render(request, "tenancy/add_account/done.html", context)
