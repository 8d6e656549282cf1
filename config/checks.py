"""System checks on the deployment settings.

Every command runs the checks on settings that would break at request time (rates, proxy
count) and warns about an http plane without a callback secret. The built-in SECRET_KEY is a
deployment check (`manage.py check --deploy`), so local commands (`makemigrations`,
`migrate`, tests) keep working without a key; the WSGI/ASGI entry points run the deployment
checks too and refuse to serve on an error (`fail_fast`), since gunicorn and uvicorn run no
checks of their own.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

TAG = "deployment"
RATE_UNITS = ("s", "m", "h", "d")  # DRF reads the first letter: 120/min, 10/second, 1000/day


@checks.register(TAG, deploy=True)
def check_secret_key(app_configs=None, **kwargs):
    if settings.DEBUG or settings.SECRET_KEY != settings.INSECURE_SECRET_KEY:
        return []
    return [
        checks.Error(
            "SECRET_KEY is the built-in local key while DEBUG is off: anyone who knows it "
            "(it is in the source) could forge session cookies and signed values.",
            hint="Set SECRET_KEY in the environment (or .env) to a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`; or set DEBUG=true for local use.",
            id="project.E001",
        )
    ]


@checks.register(TAG)
def check_plane_secret(app_configs=None, **kwargs):
    plane = settings.EXECUTION_PLANE
    if plane not in ("http", "langgraph") or settings.EXECUTION_PLANE_SECRET:
        return []
    refused = "callback from the plane will be refused (401)" if plane == "http" else "webhook from the server will be refused (403)"
    return [
        checks.Warning(
            f"EXECUTION_PLANE is {plane} but EXECUTION_PLANE_SECRET is empty: every {refused}, "
            "so runs finish only when the scheduler polls the plane.",
            hint="Set EXECUTION_PLANE_SECRET to the secret the execution plane signs its callbacks with.",
            id="project.W001",
        )
    ]


@checks.register(TAG)
def check_langgraph_url(app_configs=None, **kwargs):
    if settings.EXECUTION_PLANE != "langgraph" or settings.LANGGRAPH_URL.startswith(("http://", "https://")):
        return []
    return [
        checks.Error(
            f"EXECUTION_PLANE is langgraph but LANGGRAPH_URL is {settings.LANGGRAPH_URL!r}: the scheduler cannot reach the Agent Server.",
            hint="Set LANGGRAPH_URL to the LangGraph Agent Server's base URL, e.g. http://127.0.0.1:2024.",
            id="project.E010",
        )
    ]


@checks.register(TAG)
def check_throttle_rates(app_configs=None, **kwargs):
    errors = []
    for name in ("API_THROTTLE_WRITE", "API_THROTTLE_RUN", "ALERT_TEST_THROTTLE"):
        rate = getattr(settings, name)
        if rate and not _valid_rate(rate):
            errors.append(
                checks.Error(
                    f"{name} is {rate!r}, which is not a rate.",
                    hint="Write requests per period, e.g. '120/min', '10/s', '5000/day'; or leave it empty for no limit.",
                    id="project.E002",
                )
            )
    if settings.TRUSTED_PROXY_COUNT < 0:
        errors.append(
            checks.Error(
                f"TRUSTED_PROXY_COUNT is {settings.TRUSTED_PROXY_COUNT}.",
                hint="Give the number of reverse proxies in front of the web server, 0 when there are none.",
                id="project.E003",
            )
        )
    return errors


def _valid_rate(rate: str) -> bool:
    count, _, period = rate.partition("/")
    return count.isdigit() and int(count) > 0 and period[:1] in RATE_UNITS


def fail_fast() -> None:
    """Raise ImproperlyConfigured when a deployment check finds an error (for WSGI/ASGI)."""
    found = checks.run_checks(tags=[TAG], include_deployment_checks=True)
    serious = [message for message in found if message.is_serious()]
    if serious:
        raise ImproperlyConfigured(
            "refusing to start:\n" + "\n".join(f"{message.id}: {message.msg} {message.hint}" for message in serious)
        )
