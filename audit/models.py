"""Append-only audit trail. Write through `audit.services.record(...)` only."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    ENABLE = "enable", _("Enable")
    DISABLE = "disable", _("Disable")
    DELETE = "delete", _("Delete")
    RUN_NOW = "run_now", _("Run now")
    RETRY = "retry", _("Retry")
    BACKFILL = "backfill", _("Backfill")


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("audit events are append-only")

    def delete(self):
        raise PermissionError("audit events are append-only")


class AuditEvent(models.Model):
    org = models.ForeignKey(
        "schedules.Organization", null=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        _("actor"), max_length=150, blank=True, help_text=_("Username at the time, or 'system'.")
    )
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    target_type = models.CharField(_("target type"), max_length=32, help_text=_("e.g. 'schedule', 'run'."))
    target_id = models.CharField(_("target id"), max_length=64)
    # Not a foreign key: the trail outlives a deleted schedule.
    schedule_id = models.UUIDField(_("schedule"), null=True, blank=True, db_index=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["org", "-created_at"], name="audit_org_created")]

    def __str__(self):
        return f"{self.actor_label} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")
