from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "backstop.tenancy"
    label = "tenancy"
    verbose_name = "Partners, customer accounts and memberships"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backstop.backups.signals import backup_finished
        from backstop.tenancy import receivers

        backup_finished.connect(receivers.backup_finished, dispatch_uid="tenancy.dashboard")
