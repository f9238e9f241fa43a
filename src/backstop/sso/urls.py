from django.urls import URLPattern, path

from backstop.sso import views

urlpatterns: list[URLPattern] = [
    path("", views.saml_page, name="account_saml"),
]
