"""Settings > User management (A-USERS). Administrators only; enforced here, not only in menus."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from backstop import ratelimit
from backstop.audit import events
from backstop.tenancy import members
from backstop.tenancy import permissions as perms
from backstop.tenancy.forms import MembershipForm, NewUserForm
from backstop.tenancy.models import Membership
from backstop.tenancy.scoping import AccountAccess, TenantQuerySet, forget_memberships
from backstop.tenancy.views.decorators import account_view, is_htmx

PAGE_SIZE = 25
ADD_USER_LIMIT = (30, 3600)  # attempts per account per hour


def _members(request: HttpRequest, access: AccountAccess) -> TenantQuerySet:
    # Scoped twice over: to what the user may manage, and to this account, so another
    # account's membership id is a 404 even for someone who administers both.
    scoped = Membership.objects.restrict(request.user, perms.MANAGE_USERS)
    return scoped.filter(account=access.account).select_related("user", "account")


def _member(request: HttpRequest, access: AccountAccess, membership_id: int) -> Membership:
    return get_object_or_404(_members(request, access), pk=membership_id)


@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page
@account_view(perms.MANAGE_USERS)
def user_list(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    rows = _members(request, access).order_by("user__email")
    if query:
        rows = rows.filter(
            Q(user__email__icontains=query)
            | Q(user__first_name__icontains=query)
            | Q(user__last_name__icontains=query)
        )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    # "Google" / "Microsoft" for users who sign in through a provider, else e-mail and password.
    users = [m.user for m in page]
    sign_in_types: dict[int, str] = {
        u.pk: "Google or Microsoft" for u in users if not u.has_usable_password()
    }
    sign_in_types.update(
        (user_id, provider.title())
        for user_id, provider in SocialAccount.objects.filter(user__in=users).values_list(
            "user_id", "provider"
        )
    )
    verified = set(
        EmailAddress.objects.filter(user__in=users, verified=True).values_list("user_id", flat=True)
    )
    # Who has an authenticator app set up: one query for the page.
    two_factor = set(
        Authenticator.objects.filter(user__in=users, type=Authenticator.Type.TOTP).values_list(
            "user_id", flat=True
        )
    )
    template = "tenancy/partials/user_rows.html" if is_htmx(request) else "tenancy/settings_users.html"
    return render(
        request,
        template,
        {
            "access": access,
            "account": access.account,
            "page": page,
            "query": query,
            "verified": verified,
            "two_factor": two_factor,
            "sign_in_types": sign_in_types,
            "tab": "users",
        },
    )


def _form_context(access: AccountAccess, form: MembershipForm, **extra: object) -> dict[str, object]:
    return {"access": access, "account": access.account, "form": form, "tab": "users", **extra}


@account_view(perms.MANAGE_USERS)
def user_new(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    # "Already exists" answers whether an address has a Backstop user: anyone can open a trial
    # account, so limit how many addresses one account may try.
    if request.method == "POST" and not ratelimit.allow(f"add-user:{access.account.pk}", *ADD_USER_LIMIT):
        form.add_error(None, "Too many users added in the last hour. Try again later.")
        return render(request, "tenancy/user_form.html", _form_context(access, form, is_new=True), status=429)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        membership = members.add_member(
            request,
            access.account,
            email=data["email"],
            password=data["password"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            configure=form.apply,
        )
        text = f"Added user {membership.user.email} as {events.role_text(membership)}"
        events.user_added(request, access.account, text)
        messages.success(
            request,
            f"{membership.user.email} was added. They can sign in once they open the confirmation "
            "link we e-mailed them (valid 24 hours).",
        )
        return redirect("account_users", account_id=access.account.pk)
    return render(request, "tenancy/user_form.html", _form_context(access, form, is_new=True))


@account_view(perms.MANAGE_USERS)
def user_edit(request: HttpRequest, access: AccountAccess, membership_id: int) -> HttpResponse:
    membership = _member(request, access, membership_id)
    form = MembershipForm(request.POST or None, initial=MembershipForm.initial_for(membership))
    if request.method == "POST" and form.is_valid():
        before = events.role_of(membership)
        try:
            members.update_member(membership, form.apply, form.cleaned_data["role"])
        except members.MemberError as error:
            form.add_error("role", str(error))
        else:
            forget_memberships(request.user)
            if change := events.role_change(before, events.role_of(membership)):
                text = f"Permissions of {membership.user.email} changed: {change}"
                events.permissions_changed(request, access.account, text)
            messages.success(request, f"Permissions of {membership.user.email} saved.")
            return redirect("account_users", account_id=access.account.pk)
    return render(request, "tenancy/user_form.html", _form_context(access, form, membership=membership))


@account_view(perms.MANAGE_USERS)
def user_remove(request: HttpRequest, access: AccountAccess, membership_id: int) -> HttpResponse:
    membership = _member(request, access, membership_id)
    if request.method == "POST":
        try:
            members.remove_member(membership)
        except members.MemberError as error:
            messages.error(request, str(error))
        else:
            text = f"Removed user {membership.user.email} ({membership.get_role_display()}) from the account"
            events.user_removed(request, access.account, text)
            messages.success(request, f"{membership.user.email} no longer has access to this account.")
        return redirect("account_users", account_id=access.account.pk)
    return render(
        request,
        "tenancy/user_remove.html",
        {"access": access, "account": access.account, "membership": membership, "tab": "users"},
    )


@account_view(perms.MANAGE_USERS)
@require_POST
def user_resend(request: HttpRequest, access: AccountAccess, membership_id: int) -> HttpResponse:
    membership = _member(request, access, membership_id)
    if members.resend_confirmation(request, membership.user):
        messages.success(request, f"A new confirmation link was sent to {membership.user.email}.")
    else:
        messages.info(request, f"{membership.user.email} has already confirmed their address.")
    return redirect("account_users", account_id=access.account.pk)
