"""Rate limits on the API's writes and on starting runs, per user, from settings; the pages
use the same classes (`check_rate`), so a person has one budget whichever way they click.

Two buckets: run-now and retry (each starts an agent, the costly part) use `RunThrottle`
(`throttle_classes` on those actions, setting API_THROTTLE_RUN); every other POST, PUT,
PATCH and DELETE uses `WriteThrottle` (the default, API_THROTTLE_WRITE). Reads are not
limited. Rates ("30/min"; empty: no limit) are read on each request, not once at import as
DRF's own throttles do, so a deployment (or a test) can change them.

`AlertTestThrottle` counts per org, not per user: test alerts to the org's channels
(ALERT_TEST_THROTTLE), whoever sends them.

Counts live in Django's cache (CACHE_URL): with the default local-memory cache each web
process counts on its own; point CACHE_URL at a shared cache for one count per user.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import UserRateThrottle

from config.errors import RateLimited


class _SettingRateThrottle(UserRateThrottle):
    """Keyed on the user (or, for anonymous callers, the client address)."""

    setting = ""

    def get_rate(self):
        return getattr(settings, self.setting) or None

    def applies(self, request) -> bool:
        return True

    def allow_request(self, request, view):
        if not self.applies(request):
            return True
        return super().allow_request(request, view)


class WriteThrottle(_SettingRateThrottle):
    scope = "write"
    setting = "API_THROTTLE_WRITE"

    def applies(self, request) -> bool:
        return request.method not in SAFE_METHODS


class RunThrottle(_SettingRateThrottle):
    scope = "run"
    setting = "API_THROTTLE_RUN"


class AlertTestThrottle(_SettingRateThrottle):
    """Keyed on the org (`check_rate(..., ident=...)`): one org's channels are not a relay."""

    scope = "alert_test"
    setting = "ALERT_TEST_THROTTLE"


def check_rate(throttle_class: type[_SettingRateThrottle], request, *, ident: str | None = None) -> None:
    """The throttle's verdict outside DRF (the pages): RateLimited when over its rate.

    The cache keys are DRF's own (`throttle_<scope>_<user id>`), so a page click and an API
    call draw on the same count. `ident` replaces the user as the key (an org).
    """
    throttle = throttle_class()
    if ident is not None:
        throttle.get_cache_key = lambda request, view: throttle.cache_format % {"scope": throttle.scope, "ident": ident}
    if not throttle.allow_request(request, None):
        raise RateLimited(throttle.wait())
