"""Tenants, agents and schedules.

A schedule's timing is one cron string (or an interval, or a single time) plus an IANA zone
name; `schedules.timing` is the only module that interprets them.
"""

import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def validate_zone_name(value: str) -> None:
    """An IANA zone name this machine knows, e.g. 'Asia/Shanghai' (the org's budget month)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("unknown time zone '%(zone)s'") % {"zone": value}) from None


def tokens_field(verbose_name, help_text):
    """An optional number of tokens (a budget or a cap); empty means no limit."""
    return models.PositiveBigIntegerField(verbose_name, null=True, blank=True, help_text=help_text)


def dollars_field(verbose_name, help_text):
    """An optional amount in US dollars, to the cent (a budget or a cap); empty means no limit."""
    return models.DecimalField(verbose_name, max_digits=12, decimal_places=2, null=True, blank=True, help_text=help_text)


def default_retry_backoff():
    return [30, 60, 300, 900, 3600]


class Organization(models.Model):
    slug = models.SlugField(
        _("slug"), max_length=64, unique=True, help_text=_("Short name used in the API, e.g. 'demo'.")
    )
    name = models.CharField(_("name"), max_length=200, help_text=_("Display name, e.g. 'Demo Inc.'"))
    max_concurrent_runs = models.PositiveIntegerField(
        _("max concurrent runs"),
        default=10,
        help_text=_("Runs of this org that may be running at once across all schedules, e.g. 10."),
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        validators=[validate_zone_name],
        help_text=_("IANA name; the org's budget month is the calendar month here, e.g. 'Asia/Shanghai'."),
    )
    monthly_token_budget = tokens_field(
        _("monthly token budget"),
        _("Tokens all schedules of the org may use per month, e.g. 50000000; empty: no limit."),
    )
    monthly_cost_budget_usd = dollars_field(
        _("monthly cost budget (USD)"),
        _("What all schedules of the org may spend per month, in US dollars, e.g. 200.00; empty: no limit."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organization")
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_concurrent_runs__gte=1), name="org_max_concurrent_runs_positive"
            )
        ]

    def __str__(self):
        return self.slug


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    OPERATOR = "operator", _("Operator")
    EDITOR = "editor", _("Editor")
    ADMIN = "admin", _("Admin")


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(
        _("role"),
        max_length=16,
        choices=Role.choices,
        default=Role.VIEWER,
        help_text=_(
            "viewer: read; operator: read and run; editor: read, write and run; admin: everything."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        constraints = [models.UniqueConstraint(fields=["user", "org"], name="membership_user_org_unique")]

    def __str__(self):
        return f"{self.user} in {self.org} as {self.role}"


class AgentInputStyle(models.TextChoices):
    """How a run's prompt reaches a LangGraph graph (EXECUTION_PLANE=langgraph)."""

    CHAT = "chat", _("Chat: the prompt as a user message")
    FIELDS = "fields", _("Fields: prompt, output type and params as state keys")


class Agent(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    slug = models.SlugField(
        _("slug"), max_length=64, help_text=_("Name used in the API, e.g. 'sales-analyst'.")
    )
    name = models.CharField(_("name"), max_length=200, help_text=_("e.g. 'Sales analyst'"))
    description = models.TextField(_("description"), blank=True)
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("A disabled agent cannot be given new schedules.")
    )
    # The runtime's name for the agent, when it is not the slug (EXECUTION_PLANE=langgraph).
    assistant_id = models.CharField(
        _("assistant id"),
        max_length=128,
        blank=True,
        help_text=_(
            "The LangGraph graph or assistant that runs this agent, e.g. 'sales_graph' or an "
            "assistant's UUID. Empty: the slug."
        ),
    )
    input_style = models.CharField(
        _("input style"),
        max_length=16,
        choices=AgentInputStyle.choices,
        default=AgentInputStyle.CHAT,
        help_text=_(
            "Chat sends {\"messages\": [{\"role\": \"user\", \"content\": prompt}], \"output_type\", "
            "\"params\"}; fields sends {\"prompt\", \"output_type\", \"params\"} for graphs with their own state."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("agent")
        ordering = ["org", "slug"]
        constraints = [models.UniqueConstraint(fields=["org", "slug"], name="agent_org_slug_unique")]

    def __str__(self):
        return f"{self.org.slug}/{self.slug}" if self.org_id else self.slug


class ScheduleType(models.TextChoices):
    CRON = "cron", _("Cron expression")
    INTERVAL = "interval", _("Fixed interval")
    ONCE = "once", _("Once")


class OutputType(models.TextChoices):
    NONE = "none", _("None")
    TEXT = "text", _("Text")
    MARKDOWN = "markdown", _("Markdown")
    PDF = "pdf", _("PDF")
    XLSX = "xlsx", _("Excel (XLSX)")
    DOCX = "docx", _("Word (DOCX)")
    CSV = "csv", _("CSV")
    JSON = "json", _("JSON")


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", _("Skip the new run")
    QUEUE = "queue", _("Queue the new run (at most one waiting)")


class ScheduleStatus(models.TextChoices):
    """Derived, never stored: what the list filter `status` means."""

    OK = "ok", _("OK")
    FAILING = "failing", _("Failing")
    DISABLED = "disabled", _("Disabled")
    FINISHED = "finished", _("Finished")


# The widest jitter a schedule may ask for (one hour): its runs start within that of their time.
JITTER_MAX_SECONDS = 3600


class Schedule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="schedules")
    agent = models.ForeignKey(
        Agent,
        on_delete=models.PROTECT,
        related_name="schedules",
        help_text=_("The agent the execution plane runs, e.g. 'sales-analyst'."),
    )
    name = models.CharField(_("name"), max_length=200, help_text=_("e.g. 'Weekday sales report'"))
    description = models.TextField(_("description"), blank=True)
    prompt = models.TextField(
        _("prompt"), help_text=_("What the agent is asked, e.g. 'Summarise yesterday's sales as a PDF.'")
    )
    output_type = models.CharField(
        _("output type"), max_length=16, choices=OutputType.choices, default=OutputType.MARKDOWN
    )
    params = models.JSONField(
        _("parameters"),
        default=dict,
        blank=True,
        help_text=_('Passed through to the execution plane as is, e.g. {"region": "APAC"}.'),
    )

    schedule_type = models.CharField(
        _("schedule type"), max_length=16, choices=ScheduleType.choices, default=ScheduleType.CRON
    )
    cron_expression = models.CharField(
        _("cron expression"),
        max_length=120,
        blank=True,
        help_text=_("5 fields in the schedule's time zone, e.g. '0 9 * * 1-5' (09:00 on weekdays)."),
    )
    interval_seconds = models.PositiveIntegerField(
        _("interval (seconds)"), null=True, blank=True, help_text=_("For interval schedules, e.g. 3600.")
    )
    run_at = models.DateTimeField(
        _("run at"), null=True, blank=True, help_text=_("For once schedules: the single fire time.")
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        help_text=_("IANA name the expression is read in, e.g. 'Asia/Shanghai'."),
    )
    calendar = models.CharField(
        _("workday calendar"),
        max_length=32,
        blank=True,
        default="",
        # Also in the database: rows written by SQL (bulk tools, benchmarks) need no new column.
        db_default="",
        help_text=_(
            "Optional: fire only on this calendar's working days, e.g. 'cn-workdays' (China's official "
            "calendar, make-up days included) or 'us-workdays' (Monday-Friday minus US public holidays)."
        ),
    )
    start_at = models.DateTimeField(
        _("active from"), null=True, blank=True, help_text=_("Optional: no run before this time.")
    )
    end_at = models.DateTimeField(
        _("active until"), null=True, blank=True, help_text=_("Optional: no run after this time.")
    )

    enabled = models.BooleanField(_("enabled"), default=True)
    next_run_at = models.DateTimeField(
        _("next run at (UTC)"),
        null=True,
        blank=True,
        help_text=_("Computed; empty when disabled or finished."),
    )
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    timing_error = models.TextField(
        _("timing error"),
        blank=True,
        help_text=_("Set when the next fire time could not be computed; the scheduler skips ahead."),
    )

    max_concurrency = models.PositiveIntegerField(
        _("max concurrency"), default=1, help_text=_("Runs of this schedule queued or running at once, e.g. 1.")
    )
    overlap_policy = models.CharField(
        _("overlap policy"), max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    max_retries = models.PositiveSmallIntegerField(
        _("max retries"), default=3, help_text=_("Automatic retries of a failed run, 0 to 10.")
    )
    retry_backoff_seconds = models.JSONField(
        _("retry back-off (seconds)"),
        default=default_retry_backoff,
        help_text=_("Wait before each retry; the last value repeats, e.g. [30, 60, 300, 900, 3600]."),
    )
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"), default=1800, help_text=_("A run still running after this is timed out.")
    )
    catchup_window_seconds = models.PositiveIntegerField(
        _("catch-up window (seconds)"),
        default=3600,
        help_text=_("After downtime, the newest missed run still fires if this recent, e.g. 3600."),
    )
    jitter_seconds = models.PositiveIntegerField(
        _("jitter (seconds)"),
        # In the database too: rows written by raw SQL (the benchmarks' millions) get it.
        default=0,
        db_default=0,
        validators=[MaxValueValidator(JITTER_MAX_SECONDS)],
        help_text=_("Optional: start each run up to this many seconds after its time, e.g. 300; 0: on time."),
    )
    alert_after_failures = models.PositiveIntegerField(
        _("alert after failures"), default=3, help_text=_("Consecutive failures that raise an alert.")
    )
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    pause_after_failures = models.PositiveIntegerField(
        _("pause after failures"),
        null=True,
        blank=True,
        help_text=_("Optional: after this many consecutive failures the schedule disables itself, e.g. 5."),
    )
    paused_reason = models.CharField(
        _("paused because"),
        max_length=300,
        blank=True,
        help_text=_("Set when the schedule paused itself; cleared when it is enabled again."),
    )

    # What success means (schedules/checks.py) and what the schedule may spend (schedules/budgets.py).
    success_checks = models.JSONField(
        _("success checks"),
        default=list,
        blank=True,
        help_text=_(
            'Checked when the session succeeded; a failed check fails the run, e.g. '
            '[{"kind": "output_present"}, {"kind": "min_size", "bytes": 1024}, {"kind": "contains", "text": "Total"}].'
        ),
    )
    retry_failed_checks = models.BooleanField(
        _("retry when a check fails"),
        default=True,
        help_text=_("Agents are nondeterministic: a run whose output failed a check is retried like any failure."),
    )
    monthly_token_budget = tokens_field(
        _("monthly token budget"),
        _("Tokens this schedule may use per calendar month in its time zone, e.g. 2000000; empty: no limit."),
    )
    monthly_cost_budget_usd = dollars_field(
        _("monthly cost budget (USD)"),
        _("What this schedule may spend per calendar month, in US dollars, e.g. 20.00; empty: no limit."),
    )
    max_tokens = tokens_field(
        _("max tokens per run"),
        _("Passed to the execution plane for runtimes that enforce it, e.g. 200000; empty: none."),
    )
    max_cost_usd = dollars_field(
        _("max cost per run (USD)"),
        _("Passed to the execution plane for runtimes that enforce it, e.g. 2.50; empty: none."),
    )

    source_session_id = models.CharField(
        _("source chat session"), max_length=128, blank=True, help_text=_("Set when created from chat.")
    )
    source_message_id = models.CharField(_("source chat message"), max_length=128, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        db_table = "agent_schedules"
        verbose_name = _("schedule")
        ordering = ["-created_at"]
        permissions = [
            ("schedules_read", "schedules:read"),
            ("schedules_write", "schedules:write"),
            ("schedules_run", "schedules:run"),
            ("schedules_delete", "schedules:delete"),
        ]
        indexes = [
            models.Index(fields=["org", "enabled", "next_run_at"], name="schedule_org_enabled_next"),
            # The scheduler's cross-org scan: "enabled and next_run_at <= now order by next_run_at".
            models.Index(fields=["next_run_at"], name="schedule_due_idx", condition=Q(enabled=True)),
            models.Index(fields=["org", "-created_at", "id"], name="schedule_org_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(schedule_type="cron") | ~Q(cron_expression=""),
                name="schedule_cron_needs_expression",
            ),
            models.CheckConstraint(
                # NULL > 0 is unknown, which a CHECK lets through: demand "not null" explicitly.
                condition=~Q(schedule_type="interval") | Q(interval_seconds__isnull=False, interval_seconds__gt=0),
                name="schedule_interval_needs_positive_seconds",
            ),
            models.CheckConstraint(
                condition=Q(interval_seconds__isnull=True) | Q(interval_seconds__gt=0),
                name="schedule_interval_positive",
            ),
            models.CheckConstraint(
                condition=~Q(schedule_type="once") | Q(run_at__isnull=False),
                name="schedule_once_needs_run_at",
            ),
            models.CheckConstraint(
                condition=Q(max_retries__gte=0) & Q(max_retries__lte=10), name="schedule_max_retries_range"
            ),
            models.CheckConstraint(condition=Q(max_concurrency__gte=1), name="schedule_max_concurrency_positive"),
            models.CheckConstraint(condition=Q(timeout_seconds__gte=1), name="schedule_timeout_positive"),
            models.CheckConstraint(
                condition=Q(alert_after_failures__gte=1), name="schedule_alert_after_failures_positive"
            ),
            models.CheckConstraint(
                condition=Q(pause_after_failures__isnull=True) | Q(pause_after_failures__gte=1),
                name="schedule_pause_after_failures_positive",
            ),
            models.CheckConstraint(
                condition=Q(start_at__isnull=True) | Q(end_at__isnull=True) | Q(end_at__gt=models.F("start_at")),
                name="schedule_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(schedule_type__in=ScheduleType.values), name="schedule_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(overlap_policy__in=OverlapPolicy.values), name="schedule_overlap_policy_valid"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def status(self) -> str:
        if not self.enabled:
            return ScheduleStatus.DISABLED
        if self.next_run_at is None:
            return ScheduleStatus.FINISHED
        if self.consecutive_failures > 0:
            return ScheduleStatus.FAILING
        return ScheduleStatus.OK

    def timing_spec(self):
        """The schedule's timing as the `schedules.timing` module takes it."""
        from schedules import timing

        return timing.Spec(
            schedule_type=self.schedule_type,
            timezone=self.timezone,
            cron_expression=self.cron_expression,
            interval_seconds=self.interval_seconds,
            run_at=self.run_at,
            start_at=self.start_at,
            end_at=self.end_at,
            anchor=self.created_at,
            calendar=self.calendar,
        )


class ScheduleDraft(models.Model):
    """What a chat result hands the editor: the agent, prompt and output type of a good answer,
    waiting for a person to pick when it runs. It belongs to the person who made it (nobody
    else can open it) and expires after SCHEDULE_DRAFT_TTL; the first save stores the schedule
    here, so saving the same draft again returns that schedule instead of making a second."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200, blank=True, help_text=_("Suggested name, e.g. 'Sales summary'"))
    prompt = models.TextField(_("prompt"), help_text=_("The chat question, e.g. 'Summarise yesterday's sales as a PDF.'"))
    output_type = models.CharField(
        _("output type"), max_length=16, choices=OutputType.choices, default=OutputType.MARKDOWN
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    session_id = models.CharField(_("chat session"), max_length=128, help_text=_("e.g. 'sess-42'"))
    message_id = models.CharField(_("chat message"), max_length=128, blank=True)
    schedule = models.ForeignKey(
        Schedule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The schedule this draft was saved as; set once."),
    )
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("schedule draft")
        ordering = ["-created_at"]

    def __str__(self):
        return f"draft {self.pk} ({self.agent.slug})" if self.agent_id else f"draft {self.pk}"


class UsageMonth(models.Model):
    """What an org, or one of its schedules, used in one calendar month: a running total,
    added to when a run that reports usage finishes (schedules/budgets.py).

    An org's month is read in the org's time zone, a schedule's in the schedule's. A row whose
    total reached its budget carries `exceeded_at`, so the scheduler learns every spent budget
    of the moment from one read of the partial index `usage_exceeded` per pass, however many
    schedules and orgs there are.
    """

    # Named relations (not "+"): the admin's delete of a schedule or an org follows them.
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="usage_months")
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.CASCADE, related_name="usage_months",
        help_text=_("Empty for the org's own total."),
    )
    month = models.DateField(_("month"), help_text=_("Its first day, local to the zone, e.g. 2026-12-01."))
    period_end = models.DateTimeField(_("month ends"), help_text=_("The first instant of the next month, UTC."))
    input_tokens = models.BigIntegerField(_("input tokens"), default=0)
    output_tokens = models.BigIntegerField(_("output tokens"), default=0)
    total_tokens = models.BigIntegerField(_("tokens"), default=0)
    cost_usd = models.DecimalField(_("cost (USD)"), max_digits=16, decimal_places=6, default=0)
    exceeded_at = models.DateTimeField(
        _("budget spent at"), null=True, blank=True, help_text=_("When the total reached the budget this month.")
    )

    class Meta:
        verbose_name = _("monthly usage")
        verbose_name_plural = _("monthly usage")
        constraints = [
            # Two partial constraints rather than one with nulls_distinct=False, which SQLite lacks.
            models.UniqueConstraint(
                fields=["schedule", "month"], condition=Q(schedule__isnull=False), name="usage_month_schedule_unique"
            ),
            models.UniqueConstraint(
                fields=["org", "month"], condition=Q(schedule__isnull=True), name="usage_month_org_unique"
            ),
        ]
        indexes = [
            # The scheduler's one read per pass: the budgets spent right now.
            models.Index(fields=["period_end"], name="usage_exceeded", condition=Q(exceeded_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.org_id}/{self.schedule_id or '-'} {self.month:%Y-%m}"
