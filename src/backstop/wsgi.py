import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backstop.settings")
django_application = get_wsgi_application()

from backstop.sandbox_mount import mount  # noqa: E402 - needs the settings configured above

# With BACKSTOP_SANDBOX on, /sandbox/box is the bundled Box emulator; everything else is Django.
application = mount(django_application)
