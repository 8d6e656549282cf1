"""Everything under /api/v1/.

Each app routes its own endpoints; they are included by dotted name, so this module imports
no app code. No two apps' routes match the same path, so their order does not matter; only
the catch-all must stay last.
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api.errors import api_not_found

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (no inline script: the CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("schedules.api.urls")),
    # Run endpoints, the plane's callback and the two schedule actions on runs (run-now, runs).
    path("", include("runs.api.urls")),
    path("", include("audit.api_urls")),
    # Keep last: an unknown path answers the JSON error shape, not Django's HTML 404.
    re_path(r"^.*$", api_not_found),
]
