"""The partner's Security Audit, under /p/<partner_id>/audit/."""

from django.urls import URLPattern, path

from backstop.audit import views

urlpatterns: list[URLPattern] = [
    path("", views.partner_audit, name="partner_audit"),
    path("accounts/", views.partner_audit_accounts, name="partner_audit_accounts"),
]
