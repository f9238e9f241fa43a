from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("backstop.web.urls")),
    path("auth/", include("allauth.urls")),
    path("a/<int:account_id>/", include("backstop.tenancy.urls")),
    path("p/<int:partner_id>/", include("backstop.tenancy.partner_urls")),
    path("ops/admin/", admin.site.urls),
]
