"""Routes of the schedule, run and audit endpoints (included under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from audit.api import AuditEventViewSet
from runs.api import RunViewSet, ScheduleRunsView
from schedules.api.drafts import ScheduleDraftViewSet
from schedules.api.views import ScheduleViewSet

router = SimpleRouter()
router.register("schedules", ScheduleViewSet, basename="schedule")
# The run detail route only matches UUIDs, so `runs/callback/` (the execution plane's) never
# reaches it whatever the include order.
router.register("runs", RunViewSet, basename="run")
router.register("schedule-drafts", ScheduleDraftViewSet, basename="schedule-draft")
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("schedules/<str:pk>/runs/", ScheduleRunsView.as_view(), name="schedule-runs"),
    *router.urls,
]
