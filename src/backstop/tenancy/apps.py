from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "backstop.tenancy"
    label = "tenancy"
    verbose_name = "Partners, customer accounts and memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backstop.billing.signals import bill_changed
        from backstop.tenancy import receivers

        bill_changed.connect(receivers.bill_changed, dispatch_uid="tenancy.dashboard")
