from django.urls import path

from backstop.tenancy.views import partner

urlpatterns = [
    path("", partner.dashboard, name="partner_dashboard"),
]
