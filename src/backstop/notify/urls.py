from django.urls import URLPattern, path

from backstop.notify import views

urlpatterns: list[URLPattern] = [
    path("", views.notifications, name="account_notifications"),
    path("recipients/new/", views.recipient_new, name="account_recipient_new"),
    path("recipients/<int:recipient_id>/", views.recipient_edit, name="account_recipient_edit"),
    path("recipients/<int:recipient_id>/delete/", views.recipient_delete, name="account_recipient_delete"),
    path("report/<str:token>/", views.report_download, name="notify_report_download"),
]
