from django.urls import path

from backstop.tenancy.views import partner, resellers

urlpatterns = [
    path("", partner.dashboard, name="partner_dashboard"),
    path("resellers/", resellers.reseller_list, name="partner_resellers"),
]
