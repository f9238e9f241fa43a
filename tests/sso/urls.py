"""The application's URLs plus the public "Sign in with SSO" form (backstop.sso.public_urls), for
as long as the root URLconf does not mount it itself."""

from django.urls import include, path

from backstop.urls import urlpatterns as root_patterns

urlpatterns = [path("auth/sso/", include("backstop.sso.public_urls")), *root_patterns]
