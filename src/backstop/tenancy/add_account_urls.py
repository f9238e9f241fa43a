"""Add account (P-ADD), under /p/<partner_id>/accounts/new/."""

from django.urls import path

from backstop.tenancy.views import add_account

urlpatterns = [
    path("", add_account.new_account, name="partner_add_account"),
    path("<int:account_id>/", add_account.account_added, name="partner_add_account_done"),
]
