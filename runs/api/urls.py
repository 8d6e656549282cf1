"""Routes of the run endpoints (included under /api/v1/ by config/api/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from runs.api.backfill import BackfillView, OccurrencesView
from runs.api.metrics import MetricsSummaryView
from runs.api.views import DryRunView, RunNowView, RunViewSet, ScheduleRunsView
from runs.callback import RunCallbackView
from runs.langgraph_webhook import LangGraphWebhookView

router = SimpleRouter()
router.register("runs", RunViewSet, basename="run")

urlpatterns = [
    # First, before the run routes. Today the run detail matches only UUIDs, so `callback`
    # could not reach it in any order; listing it first keeps that true if the lookup widens.
    path("runs/callback/", RunCallbackView.as_view(), name="runs-callback"),
    path("runs/langgraph/<str:job_run_id>/<str:token>/", LangGraphWebhookView.as_view(), name="runs-langgraph-webhook"),
    path("schedules/<str:pk>/run-now/", RunNowView.as_view(), name="schedule-run-now"),
    path("schedules/<str:pk>/dry-run/", DryRunView.as_view(), name="schedule-dry-run"),
    path("schedules/<str:pk>/runs/", ScheduleRunsView.as_view(), name="schedule-runs"),
    path("metrics/summary/", MetricsSummaryView.as_view(), name="metrics-summary"),
    path("schedules/<str:pk>/backfill/", BackfillView.as_view(), name="schedule-backfill"),
    path("schedules/<str:pk>/occurrences/", OccurrencesView.as_view(), name="schedule-occurrences"),
    *router.urls,
]
