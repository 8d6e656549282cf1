from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config import health

urlpatterns = [
    # Probes for load balancers and orchestrators: no login, no tenant data (docs/deploy.md).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # The pages are the main entrance; the table asks for a login when there is none.
    path("", RedirectView.as_view(pattern_name="automation:schedules", permanent=False)),
    path("automation/", include("automation.urls")),
    # The demo chat page (off unless DEBUG or DEMO_CHAT): it stands in for the chat app.
    path("demo/", include("automation.demo")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the "Language" control
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api.urls")),
    # Prometheus scrapes (bearer METRICS_TOKEN; 404 while the setting is empty).
    path("metrics", include("runs.api.prometheus_urls")),
    # DRF's session login, linked from the API docs page (the admin's login takes staff only).
    path("api-auth/", include("rest_framework.urls")),
]

# A malformed request that Django itself refuses (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too
# many fields) gets the API's JSON error shape under /api/.
handler400 = "config.api.errors.bad_request"
