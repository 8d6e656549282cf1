"""What the pages remember per person."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ViewerPreference(models.Model):
    """A person's choices on the pages that must survive a new browser or device."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="viewer_preference"
    )
    timezone = models.CharField(
        _("viewer time zone"),
        max_length=64,
        blank=True,
        help_text=_("IANA name times are shown in, e.g. 'Asia/Shanghai'; empty shows each schedule's own zone."),
    )

    class Meta:
        verbose_name = _("viewer preference")

    def __str__(self):
        return f"{self.user}: {self.timezone or 'schedule zone'}"
