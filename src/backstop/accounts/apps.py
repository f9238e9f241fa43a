from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "backstop.accounts"
    label = "accounts"
    verbose_name = "Users and sign-in"
    default_auto_field = "django.db.models.BigAutoField"
