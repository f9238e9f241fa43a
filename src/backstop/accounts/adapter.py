"""Hooks into django-allauth: a sign-up opens a customer account with a 14-day trial."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from backstop.accounts.models import User
from backstop.regions import DEFAULT_REGION
from backstop.security.client import client_address, client_ip
from backstop.security.denial import access_denied
from backstop.security.policy import demands
from backstop.tenancy.services import open_customer_account


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        # Rate limits count the client, never a proxy nor a forged X-Forwarded-For.
        return client_ip(request) or super().get_client_ip(request)

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse | None:
        # A sign-in from an address that none of the user's tenants trusts ends here.
        address = client_address(request)
        refused = demands(user).denies(address)
        if refused:
            return access_denied(request, user, refused, address)
        return super().pre_login(request, user, **kwargs)

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> User:
        with transaction.atomic():
            saved: User = super().save_user(request, user, form, commit=True)
            open_customer_account(owner=saved, region=form.cleaned_data.get("region", DEFAULT_REGION))
        return saved


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> User:
        with transaction.atomic():
            saved: User = super().save_user(request, sociallogin, form)
            region = form.cleaned_data.get("region", DEFAULT_REGION) if form else DEFAULT_REGION
            open_customer_account(owner=saved, region=region)
        return saved

    # SAML (backstop.sso): an account's IdP signs in that account's existing members only.
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        if sociallogin.provider.id == "saml":
            return False
        return super().is_open_for_signup(request, sociallogin)

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if sociallogin.provider.id == "saml":
            from backstop.sso.signin import pre_social_login

            pre_social_login(request, sociallogin)
            return
        super().pre_social_login(request, sociallogin)
