from django.urls import path

from backstop.security import views

urlpatterns = [
    path("", views.partner_security, name="partner_security"),
    path("ip/", views.partner_ip, name="partner_ip"),
    path("ip/new/", views.partner_ip_new, name="partner_ip_new"),
    path("ip/<int:entry_id>/", views.partner_ip_edit, name="partner_ip_edit"),
    path("ip/<int:entry_id>/delete/", views.partner_ip_delete, name="partner_ip_delete"),
    path("ip/toggle/", views.partner_ip_toggle, name="partner_ip_toggle"),
]
