"""The pages under /automation/."""

from django.urls import path

from automation.views import alerts, audit, charts, drawer, dry_run, live, prefs, runs, schedules, why

app_name = "automation"

urlpatterns = [
    path("schedules/", schedules.schedule_list, name="schedules"),
    path("schedules/new/", drawer.schedule_new, name="schedule-new"),
    path("schedules/preview/", drawer.schedule_preview, name="schedule-preview"),
    path("schedules/<uuid:pk>/", schedules.schedule_detail, name="schedule"),
    path("schedules/<uuid:pk>/edit/", drawer.schedule_edit, name="schedule-edit"),
    path("schedules/<uuid:pk>/runs/", runs.schedule_runs, name="schedule-runs"),
    path("schedules/<uuid:pk>/enable/", schedules.schedule_set_enabled, {"enabled": True}, name="schedule-enable"),
    path("schedules/<uuid:pk>/disable/", schedules.schedule_set_enabled, {"enabled": False}, name="schedule-disable"),
    path("schedules/<uuid:pk>/run-now/", schedules.schedule_run_now, name="schedule-run-now"),
    path("schedules/<uuid:pk>/delete/", schedules.schedule_delete, name="schedule-delete"),
    path("runs/<uuid:pk>/retry/", runs.run_retry, name="run-retry"),
    path("runs/watch/", live.runs_watch, name="runs-watch"),
    path("charts/runs/", charts.org_chart, name="org-chart"),
    path("schedules/<uuid:pk>/chart/", charts.schedule_chart, name="schedule-chart"),
    path("alerts/", alerts.alerts_page, name="alerts"),
    path("alerts/test/", alerts.alert_test, name="alert-test"),
    path("alerts/test/<int:event_id>/", alerts.alert_test_status, name="alert-test-status"),
    path("alerts/channels/", alerts.channel_add, name="alert-channel-add"),
    path("alerts/channels/<int:pk>/", alerts.channel_edit, name="alert-channel-edit"),
    path("alerts/channels/<int:pk>/remove/", alerts.channel_remove, name="alert-channel-remove"),
    path("preferences/time-zone/", prefs.viewer_zone, name="viewer-zone"),
    path("audit/", audit.audit_list, name="audit"),
    path("schedules/<uuid:pk>/why/", why.schedule_why, name="schedule-why"),
    path("schedules/<uuid:pk>/dry-run/", dry_run.schedule_dry_run_page, name="schedule-dry-run"),
    path("schedules/<uuid:pk>/backfill/", why.schedule_backfill_missing, name="schedule-backfill"),
]
