"""The Activity section of an account, under /a/<account_id>/activity/."""

from django.urls import URLPattern, path

from backstop.audit import views

urlpatterns: list[URLPattern] = [
    path("", views.account_activity, name="account_activity"),
    path("<int:event_id>/", views.activity_info, name="account_activity_info"),
    path("audit/", views.account_audit, name="account_audit"),
]
