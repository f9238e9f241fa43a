from django.apps import AppConfig


class WebConfig(AppConfig):
    """The web shell: layout, navigation, home and support pages. It owns no models."""

    name = "backstop.web"
    label = "web"
