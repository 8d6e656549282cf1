import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

from config.checks import fail_fast  # noqa: E402 - needs the apps loaded above

# uvicorn and daphne run no system checks: refuse to serve with an insecure configuration.
fail_fast()
