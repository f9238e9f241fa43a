"""Settings > Security > SAML (administrators), and the public "Sign in with SSO" form."""

from __future__ import annotations

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from backstop import ratelimit
from backstop.audit import events
from backstop.security.client import client_ip
from backstop.sso import metadata, services
from backstop.sso.forms import MetadataForm, SsoSignInForm
from backstop.sso.models import SamlConnection
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view


@account_view(perms.MANAGE_ACCOUNT)
def saml_page(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    account = access.account
    connection = SamlConnection.objects.filter(account=account).first()
    form = MetadataForm(require=connection is None)
    if request.method == "POST":
        if request.POST.get("action") == "deactivate":
            if services.deactivate(account) is not None:
                events.security_changed(request, account, "SAML single sign-on deactivated")
                messages.success(request, "SAML single sign-on is off. Users sign in with their password.")
            return redirect("account_saml", account_id=account.pk)
        form = MetadataForm(request.POST, request.FILES, require=connection is None)
        if form.is_valid():
            try:
                idp, source, url = _read_metadata(form)
            except metadata.MetadataError as exc:
                form.add_error(None, str(exc))
            else:
                was_active = connection is not None and connection.is_active
                connection = services.activate(account, idp, url=url, by=request.user)  # type: ignore[arg-type]
                what = "activated" if not was_active else "updated"
                detail = f" with identity provider {connection.idp_entity_id}"
                if idp is not None:
                    detail += f" (metadata {source}; certificate SHA-256 {connection.certificate_sha256})"
                events.security_changed(request, account, f"SAML single sign-on {what}{detail}")
                messages.success(request, f"SAML single sign-on is {'on' if not was_active else 'updated'}.")
                return redirect("account_saml", account_id=account.pk)
    return render(
        request,
        "sso/saml.html",
        {
            "access": access,
            "account": account,
            "tab": "security",
            "connection": connection,
            "form": form,
            "sp": services.service_provider(account.pk),
            "now": timezone.now(),
        },
    )


def _read_metadata(form: MetadataForm) -> tuple[metadata.IdpMetadata | None, str, str]:
    """(parsed metadata or None to keep the stored one, where it came from, its URL)."""
    url = form.cleaned_data.get("metadata_url") or ""
    upload = form.cleaned_data.get("metadata_file")
    if url:
        return metadata.parse(metadata.fetch(url)), f"from {url}", url
    if upload is not None:
        return metadata.parse(metadata.read_upload(upload.read(metadata.MAX_BYTES + 1))), "uploaded", ""
    return None, "", ""


def sso_sign_in(request: HttpRequest) -> HttpResponse:
    """Asks the work address, then sends the user to the identity provider of their account."""
    form = SsoSignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        client = client_ip(request)
        if not ratelimit.allow(f"sso-signin:{client}", 20, 300):
            form.add_error(None, "Too many attempts. Wait a few minutes and try again.")
        else:
            connection = services.connection_for_email(form.cleaned_data["email"])
            if connection is None:
                form.add_error(
                    None,
                    "Single sign-on is not set up for this address. Sign in with your e-mail and password.",
                )
            else:
                app = get_social_adapter().get_app(
                    request, provider=services.PROVIDER, client_id=connection.slug
                )
                provider = app.get_provider(request)
                next_url = request.POST.get("next") or None
                if next_url and not get_account_adapter().is_safe_url(next_url):
                    next_url = None
                return provider.redirect(request, process="login", next_url=next_url)
    return render(request, "sso/sign_in.html", {"form": form, "next": request.GET.get("next", "")})
