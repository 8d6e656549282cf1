"""One row per attempt to run a schedule, and the scheduler replicas' heartbeats."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCESS = "success", _("Succeeded")
    FAILED = "failed", _("Failed")
    TIMEOUT = "timeout", _("Timed out")
    SKIPPED = "skipped", _("Skipped")
    CANCELED = "canceled", _("Canceled")


# Status groups: the one definition of each, used by the scheduler, the services and the pages.
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL_STATUSES = (
    RunStatus.SUCCESS,
    RunStatus.FAILED,
    RunStatus.TIMEOUT,
    RunStatus.SKIPPED,
    RunStatus.CANCELED,
)
# What `run_finish` may move an active run to (a skipped run is born skipped, never moved there).
FINISH_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELED)
# Outcomes that count as failures: they raise `consecutive_failures` and get automatic retries.
FAILURE_STATUSES = (RunStatus.FAILED, RunStatus.TIMEOUT)
# What a person may retry by hand.
RETRYABLE_STATUSES = (RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELED)


class RunErrorCode(models.TextChoices):
    """Every `error_code` the control plane writes on a run (docs/operations.md lists them).

    A plane may report its own codes for a failed session (the callback's `error.code`, e.g.
    `llm_quota_exceeded`); those are stored as sent, so `error_code` is not limited to these.
    """

    # Talking to the execution plane (docs/execution-plane.md, "Errors").
    PLANE_UNREACHABLE = "plane_unreachable", _("Execution plane unreachable")
    PLANE_TIMEOUT = "plane_timeout", _("Execution plane did not answer in time")
    PLANE_BAD_RESPONSE = "plane_bad_response", _("Execution plane answer not understood")
    PLANE_REJECTED = "plane_rejected", _("Execution plane rejected the request")
    PLANE_SESSION_NOT_FOUND = "plane_session_not_found", _("Execution plane lost the session")
    # A 5xx is written as `plane_http_<status>` (plane_http_error); this is the family's label.
    PLANE_HTTP_ERROR = "plane_http_5xx", _("Execution plane server error")
    # The agent (the local plane reports these; a remote plane may too).
    AGENT_NOT_CONFIGURED = "agent_not_configured", _("Agent not configured")
    AGENT_START_FAILED = "agent_start_failed", _("Agent could not be started")
    AGENT_FAILED = "agent_failed", _("Agent failed")
    AGENT_OUTPUT_TOO_LARGE = "agent_output_too_large", _("Agent output too large")
    # The control plane's own decisions.
    TIMEOUT = "timeout", _("Ran longer than the schedule's timeout")
    MISSED = "missed", _("Missed while the scheduler was down")
    OVERLAP = "overlap", _("Previous run still going")
    SCHEDULE_DISABLED = "schedule_disabled", _("Schedule disabled")
    AGENT_DISABLED = "agent_disabled", _("Agent disabled")
    OUTPUT_CHECK_FAILED = "output_check_failed", _("The output failed a success check")
    BUDGET_EXCEEDED = "budget_exceeded", _("Monthly budget spent")


def plane_http_error(status: int) -> str:
    """`plane_http_500`, `plane_http_503`, ...: a 5xx answer names its status."""
    return f"plane_http_{status}"


# Errors that the same request would meet again: retrying only burns attempts (an agent that
# wrote too much once writes too much again, and each attempt costs a full run).
PERMANENT_ERRORS = frozenset(
    {RunErrorCode.PLANE_REJECTED, RunErrorCode.AGENT_NOT_CONFIGURED, RunErrorCode.AGENT_OUTPUT_TOO_LARGE}
)

# The message of a run canceled while it waited because its schedule was disabled.
SCHEDULE_DISABLED_MESSAGE = "canceled before it started: the schedule was disabled"


class TriggerType(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    MANUAL = "manual", _("Manual")
    RETRY = "retry", _("Retry")
    BACKFILL = "backfill", _("Backfill")


class ScheduleRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job_run_id = models.CharField(
        _("job run id"),
        max_length=80,
        unique=True,
        help_text=_(
            "Idempotency key sent to the execution plane; derived from (schedule, scheduled time, "
            "attempt) for scheduled runs, e.g. 'sch-3f2a…-20261201T010000Z-1'."
        ),
    )
    occurrence_key = models.CharField(
        _("occurrence"),
        max_length=80,
        help_text=_(
            "Shared by every attempt of one occurrence; a retry's job_run_id is this plus "
            "'-<attempt>', e.g. 'sch-3f2a…-20261201T010000Z'."
        ),
    )
    schedule = models.ForeignKey(
        "schedules.Schedule", on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    org = models.ForeignKey("schedules.Organization", on_delete=models.CASCADE, related_name="runs")
    trigger_type = models.CharField(
        _("trigger"), max_length=16, choices=TriggerType.choices, default=TriggerType.SCHEDULED
    )
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1, help_text=_("1 for the first try."))
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        help_text=_("The attempt this one retries."),
    )
    scheduled_for = models.DateTimeField(_("scheduled for"), help_text=_("The nominal fire time (UTC)."))
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    not_before = models.DateTimeField(
        _("not before"), null=True, blank=True, help_text=_("A retry waits until this time.")
    )
    queued_at = models.DateTimeField(_("queued at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    session_id = models.CharField(_("session id"), max_length=128, blank=True)
    message_id = models.CharField(_("message id"), max_length=128, blank=True)
    outputs = models.JSONField(
        _("outputs"),
        default=list,
        blank=True,
        help_text=_('Results, e.g. [{"type": "pdf", "name": "report.pdf", "url": "https://…"}].'),
    )
    answer = models.TextField(
        _("answer"),
        blank=True,
        default="",
        # Also in the database, as the other later columns: raw inserts (the benches' baselines)
        # name only the columns they mean.
        db_default="",
        help_text=_("The agent's own answer, as text, e.g. the last message of a chat agent (at most 64 KiB)."),
    )
    # What the session used, as the plane reported it (docs/execution-plane.md, "Usage"); empty
    # when it reported nothing.
    input_tokens = models.PositiveBigIntegerField(_("input tokens"), null=True, blank=True)
    output_tokens = models.PositiveBigIntegerField(_("output tokens"), null=True, blank=True)
    total_tokens = models.PositiveBigIntegerField(_("tokens"), null=True, blank=True)
    cost_usd = models.DecimalField(_("cost (USD)"), max_digits=14, decimal_places=6, null=True, blank=True)
    error_code = models.CharField(
        _("error code"), max_length=64, blank=True, help_text=_("e.g. 'plane_unreachable', 'overlap' (RunErrorCode); a plane may report its own.")
    )
    error_message = models.TextField(_("error message"), blank=True)
    missed_count = models.PositiveIntegerField(
        _("missed occurrences"),
        default=0,
        help_text=_("Older occurrences not fired after downtime, coalesced into this run."),
    )

    # What was sent, so that editing the schedule never rewrites history.
    agent_slug = models.CharField(_("agent"), max_length=64)
    prompt = models.TextField(_("prompt"))
    output_type = models.CharField(_("output type"), max_length=16)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    # The prompt above is the resolved one; these are the values its variables had
    # (schedules/variables.py), at the occurrence's time in the schedule's zone; {} when the
    # prompt names none.
    # Database defaults too: rows written by SQL (bulk tools, benchmarks) need no new column.
    variables = models.JSONField(
        _("variables"),
        default=dict,
        db_default=models.Value({}, output_field=models.JSONField()),
        blank=True,
        help_text=_('The run variables at its occurrence, e.g. {"date": "2026-12-04", "timezone": "Asia/Shanghai"}.'),
    )
    calendar_note = models.CharField(
        _("calendar note"),
        max_length=200,
        blank=True,
        db_default="",
        help_text=_("Set when the schedule's workday calendar could not decide, e.g. 'calendar data missing for 2027'."),
    )

    lease_owner = models.CharField(_("lease owner"), max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))

    # How the audit trail names a run (`audit.services.target_type_of`).
    audit_target_type = "run"

    class Meta:
        db_table = "schedule_runs"
        verbose_name = _("run")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["schedule", "-created_at"], name="run_schedule_created"),
            # The dispatcher: queued runs ready to go, oldest first.
            models.Index(
                fields=["not_before", "created_at"], name="run_queued_idx", condition=Q(status=RunStatus.QUEUED)
            ),
            # Reconcile: running runs (timeouts, lost callbacks) and per-org running counts.
            models.Index(fields=["org", "started_at"], name="run_running_idx", condition=Q(status=RunStatus.RUNNING)),
            # A schedule's queued-or-running runs: firing's overlap count for a batch, run-now's
            # count, and the EXISTS that lets an idle scheduler pass skip dispatch and reconcile.
            # Small whatever the history: only active runs are in it.
            models.Index(
                fields=["schedule"], name="run_active_by_schedule", condition=Q(status__in=ACTIVE_STATUSES)
            ),
            # A manual retry's look at the later attempts of its occurrence. Only retries are in
            # it, so firing's inserts (every one attempt 1) never write to it.
            models.Index(fields=["occurrence_key"], name="run_retries_by_occurrence", condition=Q(attempt__gt=1)),
            # Reconcile's owed cancels (a run that timed out before it learned its session): a
            # handful of rows whatever the history, where the same filter scanned every run
            # ever written each pass (50 ms at 220,000 runs).
            models.Index(
                fields=["lease_expires_at"],
                name="run_owed_cancel",
                condition=Q(status=RunStatus.TIMEOUT, lease_expires_at__isnull=False),
            ),
            # /metrics' running totals (runs/metrics/tally.py): runs finished in an hour. Only
            # finished runs are in it, so firing's queued inserts never write to it.
            models.Index(fields=["finished_at"], name="run_finished", condition=Q(finished_at__isnull=False)),
            # Metrics over a window (runs/metrics/scan.py). It carries what the summary reads, so
            # PostgreSQL answers from the index alone (index-only scan) instead of visiting
            # 100,000 heap rows; other databases ignore `include`.
            models.Index(
                fields=["org", "created_at"],
                name="run_org_created",
                include=[
                    "status", "trigger_type", "schedule", "started_at", "finished_at", "agent_slug",
                    "input_tokens", "output_tokens", "total_tokens", "cost_usd",
                ],
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(attempt__gte=1), name="run_attempt_positive"),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid"),
        ]

    def __str__(self):
        return self.job_run_id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class SchedulerHeartbeat(models.Model):
    """One row per scheduler replica, written every loop; read by health checks and metrics.

    A replica that stops cleanly retires its row (`stopped_at`); only a silent row without it
    is a replica that vanished (runs/alerts/stall.py, `replica_states`)."""

    replica_id = models.CharField(_("replica"), max_length=128, primary_key=True)
    hostname = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"))
    last_beat_at = models.DateTimeField(_("last heartbeat"))
    fired_total = models.BigIntegerField(_("runs fired"), default=0)
    dispatched_total = models.BigIntegerField(_("runs dispatched"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # Set by a clean stop (SIGTERM/SIGINT): a retired replica is neither beating nor stale.
    # A replica that vanished (killed, host lost) never sets it: that is the fault to report.
    stopped_at = models.DateTimeField(
        _("stopped at"),
        null=True,
        blank=True,
        help_text=_("When the replica stopped cleanly; empty while it runs or when it vanished."),
    )

    class Meta:
        verbose_name = _("scheduler heartbeat")
        ordering = ["-last_beat_at"]

    def __str__(self):
        return self.replica_id


class RunTally(models.Model):
    """Running totals of finished runs for `/metrics`: every run that finished before `through`,
    per org, status and trigger (runs/metrics/tally.py).

    Without it each scrape would count the whole run history. A run's `finished_at` is written
    once, when it ends, so the runs finished before an hour that is over never change: the
    totals at the next hour are these plus that hour's runs, and every process that computes
    them gets the same numbers. Deleting old runs does not lower them (they are counters).
    """

    through = models.DateTimeField(_("through"), help_text=_("Runs that finished before this time, e.g. 2026-12-01 09:00 UTC."))
    org = models.ForeignKey("schedules.Organization", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices)
    trigger_type = models.CharField(_("trigger"), max_length=16, choices=TriggerType.choices)
    runs = models.BigIntegerField(_("runs"), default=0)
    timed = models.BigIntegerField(
        _("timed runs"), default=0, help_text=_("Runs with a duration (succeeded, failed, timed out).")
    )
    seconds = models.FloatField(_("seconds"), default=0.0, help_text=_("Their durations added up."))
    buckets = models.JSONField(
        _("duration buckets"), default=list, help_text=_("Timed runs at most 1, 5, 15 ... 3600 s long, e.g. [3, 9, 12].")
    )

    class Meta:
        verbose_name = _("run tally")
        constraints = [
            models.UniqueConstraint(fields=["through", "org", "status", "trigger_type"], name="run_tally_unique")
        ]
        indexes = [models.Index(fields=["through"], name="run_tally_through")]

    def __str__(self):
        return f"{self.org_id} {self.status} {self.trigger_type} < {self.through:%Y-%m-%d %H:%M}"


# Alerts live in their own package; importing them here registers them with the `runs` app.
from runs.alerts.models import (  # noqa: E402,F401
    Alert,
    AlertCause,
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    AlertEventKind,
    AlertState,
    ChannelKind,
    DeliveryAttempt,
    DeliveryState,
)
