"""Billing URLs outside any tenant: signed document links in e-mails, and gateway webhooks."""

from django.urls import path

from backstop.billing import document_views, pay_views, webhook_views

urlpatterns = [
    path("documents/<str:token>/", document_views.download, name="billing_document"),
    path("pay/<str:token>/", pay_views.pay, name="billing_pay_link"),
    path("webhooks/<str:gateway_name>/", webhook_views.receive, name="billing_webhook"),
]
