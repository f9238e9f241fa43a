from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backstop.backups"
    label = "backups"
    verbose_name = "Backups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backstop.backups import anomaly, tasks  # noqa: F401 - queue tasks, smart-alert receiver
