"""What every audited admin here shares."""

from __future__ import annotations

from audit.services import Actor
from config import clock


class ServiceDeleteMixin:
    """Deletes, one or many, through an audited service (`delete_one`), never a bare delete."""

    def delete_one(self, *, actor, obj, now) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj):
        self.delete_one(actor=Actor.from_request(request), obj=obj, now=clock.now())

    def delete_queryset(self, request, queryset):
        actor, now = Actor.from_request(request), clock.now()
        for obj in queryset:
            self.delete_one(actor=actor, obj=obj, now=now)
