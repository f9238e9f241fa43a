from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "backstop.sso"
    label = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from backstop.sso.models import SamlConnection

        post_delete.connect(_drop_app, sender=SamlConnection, dispatch_uid="sso.drop_app")


def _drop_app(sender: object, instance: object, **kwargs: object) -> None:
    """A removed account's IdP goes with it: allauth's SAML URLs for it answer 404."""
    from allauth.socialaccount.models import SocialApp

    from backstop.sso.models import SamlConnection, slug_of

    if isinstance(instance, SamlConnection):
        SocialApp.objects.filter(provider="saml", client_id=slug_of(instance.account_id)).delete()
