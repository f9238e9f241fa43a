from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "backstop.hub"
    label = "hub"
    verbose_name = "Learning Hub"
