"""The partner's Settings > Notifications (P-NOTIFY), under /p/<partner_id>/settings/notifications/."""

from django.urls import URLPattern, path

from backstop.notify import views

urlpatterns: list[URLPattern] = [
    path("", views.partner_notifications, name="partner_notifications"),
    path("recipients/new/", views.partner_recipient_new, name="partner_recipient_new"),
    path("recipients/<int:recipient_id>/", views.partner_recipient_edit, name="partner_recipient_edit"),
    path(
        "recipients/<int:recipient_id>/delete/",
        views.partner_recipient_delete,
        name="partner_recipient_delete",
    ),
    path("report/<str:token>/", views.partner_report_download, name="partner_report_download"),
]
