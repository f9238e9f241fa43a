"""Partner Settings (P-SETTINGS), under /p/<partner_id>/settings/. Security and Notifications
are their own apps' includes (settings/security/, settings/notifications/)."""

from django.urls import path

from backstop.tenancy.views import partner_settings, partner_users

urlpatterns = [
    path("", partner_settings.account, name="partner_settings"),
    path("users/", partner_users.user_list, name="partner_users"),
    path("users/new/", partner_users.user_new, name="partner_user_new"),
    path("users/accounts/", partner_users.account_search, name="partner_user_accounts"),
    path("users/<int:membership_id>/", partner_users.user_edit, name="partner_user_edit"),
    path("users/<int:membership_id>/remove/", partner_users.user_remove, name="partner_user_remove"),
    path("users/<int:membership_id>/resend/", partner_users.user_resend, name="partner_user_resend"),
]
