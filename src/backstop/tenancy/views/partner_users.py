"""Partner Settings > Users (P-SETTINGS): the partner's own users. Administrators only (the
decorator refuses custom roles); a membership of another partner is a 404, whatever its id."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from backstop import ratelimit
from backstop.audit import events
from backstop.tenancy import members, partner_members
from backstop.tenancy import permissions as perms
from backstop.tenancy.account_search import account_page, search_text
from backstop.tenancy.forms_partner import OPENS_ACCOUNTS, PartnerMembershipForm, PartnerNewUserForm
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import forget_memberships
from backstop.tenancy.views.decorators import is_htmx, partner_view
from backstop.tenancy.views.users import ADD_USER_LIMIT, PAGE_SIZE

TEMPLATES = "tenancy/partner_settings/"


def _members(partner: Partner) -> QuerySet[Membership]:
    return Membership.objects.filter(partner=partner).select_related("user")


def _member(partner: Partner, membership_id: int) -> Membership:
    return get_object_or_404(_members(partner), pk=membership_id)


@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page
@partner_view(perms.MANAGE_USERS)
def user_list(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    rows = _members(partner).order_by("user__email")
    if query:
        rows = rows.filter(
            Q(user__email__icontains=query)
            | Q(user__first_name__icontains=query)
            | Q(user__last_name__icontains=query)
        )
    # The accessible accounts counted within the partner's reach only: an account of another
    # tenant never counts, even if a row points at it.
    reach = partner_members.partner_reach(partner).values("pk")
    rows = rows.annotate(reachable=Count("accounts", filter=Q(accounts__in=reach), distinct=True))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    users = [m.user for m in page]
    verified = set(
        EmailAddress.objects.filter(user__in=users, verified=True).values_list("user_id", flat=True)
    )
    two_factor = set(
        Authenticator.objects.filter(user__in=users, type=Authenticator.Type.TOTP).values_list(
            "user_id", flat=True
        )
    )
    template = TEMPLATES + ("partials/user_rows.html" if is_htmx(request) else "users.html")
    context = {
        "partner": partner,
        "membership": membership,
        "page": page,
        "query": query,
        "verified": verified,
        "two_factor": two_factor,
        "tab": "users",
    }
    return render(request, template, context)


def _form_context(
    request: HttpRequest,
    partner: Partner,
    form: PartnerMembershipForm,
    reach: QuerySet[Account],
    **extra: Any,
) -> dict[str, Any]:
    # The picker: the chosen accounts and one page of the search, never the whole reach. The
    # page's own ?q= and ?page= pick that page (the "more" link without JavaScript).
    chosen = list(form.chosen())
    query = search_text(request.GET.get("q"))
    return {
        "partner": partner,
        "form": form,
        "tab": "users",
        "opens_accounts": sorted(OPENS_ACCOUNTS),
        "chosen": chosen,
        "chosen_ids": {account.pk for account in chosen},
        "results": account_page(reach, query, request.GET.get("page")),
        "query": query,
        **extra,
    }


@partner_view(perms.MANAGE_USERS)
def user_new(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    reach = partner_members.partner_reach(partner)
    form = PartnerNewUserForm(request.POST or None, reach=reach)
    context = _form_context(request, partner, form, reach, is_new=True)
    # "Already exists" tells whether an address has a Backstop user: limit the tries.
    if request.method == "POST" and not ratelimit.allow(f"add-partner-user:{partner.pk}", *ADD_USER_LIMIT):
        form.add_error(None, "Too many users added in the last hour. Try again later.")
        return render(request, TEMPLATES + "user_form.html", context, status=429)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        added = partner_members.add_partner_member(
            request,
            partner,
            email=data["email"],
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            credential=form.credential(),
            configure=form.apply,
            accounts=form.chosen_accounts(),
        )
        text = (
            f"Added partner user {added.user.email} ({added.get_credential_display()}) "
            f"as {partner_members.describe(added)}"
        )
        events.user_added(request, partner, text)
        messages.success(
            request,
            f"{added.user.email} was added. They can sign in once they open the confirmation "
            "link we e-mailed them (valid 24 hours).",
        )
        return redirect("partner_users", partner_id=partner.pk)
    return render(request, TEMPLATES + "user_form.html", context)


@partner_view(perms.MANAGE_USERS)
def user_edit(
    request: HttpRequest, partner: Partner, membership: Membership, membership_id: int
) -> HttpResponse:
    member = _member(partner, membership_id)
    reach = partner_members.partner_reach(partner)
    initial = PartnerMembershipForm.initial_for(member)
    form = PartnerMembershipForm(request.POST or None, initial=initial, reach=reach)
    if request.method == "POST" and form.is_valid():
        before = partner_members.role_of(member)
        try:
            partner_members.update_partner_member(
                member, form.apply, form.cleaned_data["role"], form.chosen_accounts()
            )
        except members.MemberError as error:
            form.add_error("role", str(error))
        else:
            forget_memberships(request.user)
            if change := partner_members.role_change(before, partner_members.role_of(member)):
                text = f"Permissions of partner user {member.user.email} changed: {change}"
                events.permissions_changed(request, partner, text)
            messages.success(request, f"Permissions of {member.user.email} saved.")
            return redirect("partner_users", partner_id=partner.pk)
    context = _form_context(request, partner, form, reach, member=member)
    return render(request, TEMPLATES + "user_form.html", context)


@partner_view(perms.MANAGE_USERS)
@require_GET
def account_search(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    """The picker's search (htmx): a page of the partner's accounts matching the text. Only the
    partner's reach is searched, so another tenant's account never shows, whatever the text."""
    query = search_text(request.GET.get("q"))
    results = account_page(partner_members.partner_reach(partner), query, request.GET.get("page"))
    context = {"partner": partner, "results": results, "query": query, "chosen_ids": set()}
    return render(request, TEMPLATES + "partials/account_results.html", context)


@partner_view(perms.MANAGE_USERS)
def user_remove(
    request: HttpRequest, partner: Partner, membership: Membership, membership_id: int
) -> HttpResponse:
    member = _member(partner, membership_id)
    if request.method == "POST":
        try:
            partner_members.remove_partner_member(member)
        except members.MemberError as error:
            messages.error(request, str(error))
        else:
            text = f"Removed partner user {member.user.email} ({member.get_role_display()})"
            events.user_removed(request, partner, text)
            messages.success(request, f"{member.user.email} no longer has access to this partner portal.")
        return redirect("partner_users", partner_id=partner.pk)
    return render(
        request, TEMPLATES + "user_remove.html", {"partner": partner, "member": member, "tab": "users"}
    )


@partner_view(perms.MANAGE_USERS)
@require_POST
def user_resend(
    request: HttpRequest, partner: Partner, membership: Membership, membership_id: int
) -> HttpResponse:
    member = _member(partner, membership_id)
    if members.resend_confirmation(request, member.user):
        messages.success(request, f"A new confirmation link was sent to {member.user.email}.")
    else:
        messages.info(request, f"{member.user.email} has already confirmed their address.")
    return redirect("partner_users", partner_id=partner.pk)
