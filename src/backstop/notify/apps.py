from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "backstop.notify"
    label = "notify"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from backstop.notify import receivers, tasks  # noqa: F401 - connects the signals, registers the tasks
