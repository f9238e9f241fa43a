"""Sign-ins into the Security Audit: allauth says when someone signed in, Django when a password
was refused."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from backstop.audit import events


@receiver(user_logged_in, dispatch_uid="audit_signed_in")
def on_signed_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    method = "password"
    if sociallogin is not None:
        # The provider's kind ("google", "microsoft", "saml"), not a SAML app's own id.
        try:
            method = str(sociallogin.account.get_provider(request).id)
        except Exception:  # an app removed since: still a sign-in worth recording
            method = str(sociallogin.account.provider or "single sign-on")
    events.signed_in(request, user, method)


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def on_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None:  # not a web sign-in (a management command, a test's authenticate())
        return
    email = str(credentials.get("email") or credentials.get("username") or "")
    events.sign_in_failed(request, email, "wrong password")
