from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "backstop.sso"
    label = "sso"
    verbose_name = "Single sign-on"
