"""Row and bulk actions of the partner dashboard, under /p/<partner_id>/accounts/."""

from django.urls import path

from backstop.tenancy.views import partner

urlpatterns = [
    path("subscribe/", partner.subscribe, name="partner_accounts_subscribe"),
    path("usage-report/", partner.usage_report, name="partner_usage_report"),
    path("<int:account_id>/delete/", partner.delete_account, name="partner_account_delete"),
    path("<int:account_id>/cancel-delete/", partner.cancel_delete, name="partner_account_cancel_delete"),
]
