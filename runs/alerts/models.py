"""Alert rows. Imported by runs/models.py, so they belong to the `runs` app."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from config.redact import mask_target


class AlertCause(models.TextChoices):
    CONSECUTIVE_FAILURES = "consecutive_failures", _("Consecutive failures")
    SCHEDULER_STALLED = "scheduler_stalled", _("Scheduler stalled")
    TEST = "test", _("Test alert")
    BUDGET_EXCEEDED = "budget_exceeded", _("Monthly budget spent")
    # A schedule fired in a year its workday calendar has no data for (decided by weekday).
    CALENDAR_DATA_MISSING = "calendar_data_missing", _("Calendar data missing")


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class AlertEventKind(models.TextChoices):
    OPENED = "opened", _("Opened")
    UPDATED = "updated", _("Updated")
    RESOLVED = "resolved", _("Resolved")


class Alert(models.Model):
    """One episode of a cause: opened once, kept open while the cause lasts, then resolved.

    The partial unique constraints make "at most one open per (org, cause, schedule)" the
    database's rule, so two scheduler replicas or two finishing runs cannot open it twice.
    Two constraints rather than one with `nulls_distinct=False`, which SQLite lacks.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey("schedules.Organization", on_delete=models.CASCADE, related_name="alerts")
    cause = models.CharField(_("cause"), max_length=32, choices=AlertCause.choices)
    schedule = models.ForeignKey(
        "schedules.Schedule",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
        help_text=_("The failing schedule; empty for a stalled scheduler or a test."),
    )
    state = models.CharField(_("state"), max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    opened_at = models.DateTimeField(_("opened at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    detail = models.TextField(
        _("detail"), blank=True, help_text=_("The latest words about it, e.g. '3 runs failed in a row'.")
    )

    class Meta:
        verbose_name = _("alert")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["org", "-opened_at"], name="alert_org_opened")]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "cause", "schedule"],
                condition=Q(state="open", schedule__isnull=False),
                name="alert_one_open_per_schedule",
            ),
            models.UniqueConstraint(
                fields=["org", "cause"],
                condition=Q(state="open", schedule__isnull=True),
                name="alert_one_open_per_org",
            ),
            models.CheckConstraint(condition=Q(state__in=AlertState.values), name="alert_state_valid"),
        ]

    def __str__(self):
        return f"{self.cause} ({self.state})"


class AlertEvent(models.Model):
    """A transition of an alert (opened, updated, resolved): what channels are told about."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=16, choices=AlertEventKind.choices)
    at = models.DateTimeField(_("time"))
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("alert event")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.alert_id} {self.kind}"


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook")
    EMAIL = "email", _("E-mail")


class AlertChannel(models.Model):
    org = models.ForeignKey("schedules.Organization", on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=100, help_text=_("e.g. 'On-call webhook'"))
    target = models.CharField(
        _("address"),
        max_length=500,
        help_text=_("A webhook URL (https://hooks.example.com/alerts) or an e-mail address (ops@example.com)."),
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=200,
        blank=True,
        help_text=_("Webhooks only: the key of the HMAC-SHA256 signature in the X-Alert-Signature header."),
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("alert channel")
        ordering = ["org", "name", "id"]

    def __str__(self):
        return f"{self.name} ({self.kind})"

    @staticmethod
    def audit_shown(values: dict | None) -> dict | None:
        """An audit event's stored values as the trail shows them: the target masked.

        Events written since channels were masked store the masked form already; older ones
        are masked here, so no reader of the trail sees a webhook URL (often a credential)."""
        if not values or "target" not in values:
            return values
        target = str(values["target"])
        changed = " (changed)" if target.endswith(" (changed)") else ""
        return {**values, "target": mask_target(target.removesuffix(changed)) + changed}


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class AlertDelivery(models.Model):
    """One alert event to one channel: an outbox row the scheduler works off, with retries."""

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(_("state"), max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("alert delivery")
        indexes = [
            # The scheduler's "what is due to send": only pending rows are in it.
            models.Index(fields=["next_attempt_at"], name="alert_delivery_due", condition=Q(state="pending")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel"], name="alert_delivery_once_per_channel"),
        ]


class DeliveryAttempt(models.Model):
    """What one try answered: a status code, or the error that stopped it."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(_("time"))
    ok = models.BooleanField(_("delivered"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        ordering = ["at", "id"]
