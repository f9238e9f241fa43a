"""The public "Sign in with SSO" form. Mounted by the root URLconf at `auth/sso/`."""

from django.urls import URLPattern, path

from backstop.sso import views

urlpatterns: list[URLPattern] = [
    path("", views.sso_sign_in, name="sso_login"),
]
