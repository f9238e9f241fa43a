from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "backstop.billing"
    label = "billing"
    verbose_name = "Billing"
