from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "backstop.audit"
    label = "audit"
    verbose_name = "Security audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backstop.audit import signals  # noqa: F401  (connects the sign-in receivers)
