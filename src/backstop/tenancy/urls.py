from django.urls import path

from backstop.tenancy.views import account, users

urlpatterns = [
    path("", account.home, name="account_home"),
    path("support/", account.support, name="account_support"),
    path("settings/", account.settings_page, name="account_settings"),
    path("settings/remove/", account.remove, name="account_remove"),
    path("settings/remove/cancel/", account.cancel_remove, name="account_remove_cancel"),
    path("settings/email/<str:token>/", account.confirm_email, name="account_email_confirm"),
    path("settings/users/", users.user_list, name="account_users"),
    path("settings/users/new/", users.user_new, name="account_user_new"),
    path("settings/users/<int:membership_id>/", users.user_edit, name="account_user_edit"),
    path("settings/users/<int:membership_id>/remove/", users.user_remove, name="account_user_remove"),
    path("settings/users/<int:membership_id>/resend/", users.user_resend, name="account_user_resend"),
]
