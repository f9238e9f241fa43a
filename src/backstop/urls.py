from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from backstop.backups.oauth import box_callback
from backstop.backups.views.downloads import export_download

# The operators' admin signs in through allauth's page, with its rate limits.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", include("backstop.web.urls")),
    path("auth/sso/", include("backstop.sso.public_urls")),
    path("auth/", include("allauth.urls")),
    path("a/<int:account_id>/", include("backstop.tenancy.urls")),
    path("a/<int:account_id>/settings/security/", include("backstop.security.urls")),
    path("a/<int:account_id>/settings/security/saml/", include("backstop.sso.urls")),
    path("a/<int:account_id>/settings/notifications/", include("backstop.notify.urls")),
    path("a/<int:account_id>/activity/", include("backstop.audit.urls")),
    path("a/<int:account_id>/backups/", include("backstop.backups.urls")),
    path("a/<int:account_id>/recovery/", include("backstop.backups.recovery_urls")),
    path("a/<int:account_id>/jobs/", include("backstop.backups.jobs_urls")),
    path("backups/oauth/box/", box_callback, name="backup_oauth_box"),
    path("exports/<str:token>/", export_download, name="export_download"),
    path("p/<int:partner_id>/", include("backstop.tenancy.partner_urls")),
    path("p/<int:partner_id>/accounts/new/", include("backstop.tenancy.add_account_urls")),
    path("p/<int:partner_id>/accounts/", include("backstop.tenancy.dashboard_urls")),
    path("p/<int:partner_id>/settings/", include("backstop.tenancy.partner_settings_urls")),
    path("p/<int:partner_id>/audit/", include("backstop.audit.partner_urls")),
    path("p/<int:partner_id>/settings/security/", include("backstop.security.partner_urls")),
    path("p/<int:partner_id>/settings/notifications/", include("backstop.notify.partner_urls")),
    path("p/<int:partner_id>/hub/", include("backstop.hub.urls")),
    path("hub/", include("backstop.hub.public_urls")),
    path("a/<int:account_id>/billing/", include("backstop.billing.urls")),
    path("p/<int:partner_id>/billing/", include("backstop.billing.partner_urls")),
    path("billing/", include("backstop.billing.public_urls")),
    path("sandbox/payments/", include("backstop.sandbox.payments.urls")),
    path("ops/admin/", admin.site.urls),
]
