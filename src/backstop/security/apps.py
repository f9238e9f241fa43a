from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "backstop.security"
    label = "security"
    verbose_name = "Security"
