from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "backstop.tenancy"
    label = "tenancy"
    verbose_name = "Partners, customer accounts and memberships"
    default_auto_field = "django.db.models.BigAutoField"
