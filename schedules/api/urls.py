"""Routes of the schedule endpoints (included under /api/v1/ by config/api/urls.py)."""

from rest_framework.routers import SimpleRouter

from schedules.api.drafts import ScheduleDraftViewSet
from schedules.api.views import ScheduleViewSet

router = SimpleRouter()
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("schedule-drafts", ScheduleDraftViewSet, basename="schedule-draft")

urlpatterns = router.urls
