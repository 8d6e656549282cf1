"""Everything under /api/v1/."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api_errors import api_not_found
from runs.callback import RunCallbackView

urlpatterns = [
    # The execution plane's signed callback; before any runs/<id>/ route so it is matched first.
    path("runs/callback/", RunCallbackView.as_view(), name="runs-callback"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Schedules, runs (detail and retry) and audit events.
    path("", include("schedules.api.urls")),
    # Keep last: an unknown path answers the JSON error shape, not Django's HTML 404.
    re_path(r"^.*$", api_not_found),
]
