import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.checks import fail_fast  # noqa: E402 - needs the apps loaded above

# gunicorn runs no system checks: refuse to serve with an insecure configuration.
fail_fast()
