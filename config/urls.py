from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    # Session login for org members (the admin's login takes staff only): the API docs page
    # and the pages use it.
    path("api-auth/", include("rest_framework.urls")),
]

# A malformed request that Django itself refuses (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too
# many fields) gets the API's JSON error shape under /api/.
handler400 = "config.api_errors.bad_request"
