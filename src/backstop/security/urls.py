from django.urls import path

from backstop.security import views

urlpatterns = [
    path("", views.account_security, name="account_security"),
    path("ip/", views.account_ip, name="account_ip"),
    path("ip/new/", views.account_ip_new, name="account_ip_new"),
    path("ip/<int:entry_id>/", views.account_ip_edit, name="account_ip_edit"),
    path("ip/<int:entry_id>/delete/", views.account_ip_delete, name="account_ip_delete"),
    path("ip/toggle/", views.account_ip_toggle, name="account_ip_toggle"),
]
