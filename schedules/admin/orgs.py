"""Organizations, memberships and agents: saved and deleted through `schedules.tenancy`."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from config import clock
from schedules import tenancy
from schedules.admin.base import ServiceDeleteMixin
from config.admin import ReadOnlyAdmin
from schedules.models import Agent, Membership, Organization, UsageMonth


class AuditedAdminMixin(ServiceDeleteMixin):
    """Saves and deletes (inline rows included) through `schedules.tenancy`, so each leaves an
    AuditEvent with the staff user, the request id and the changed fields."""

    def save_model(self, request, obj, form, change):
        tenancy.tenancy_save(actor=Actor.from_request(request), obj=obj, now=clock.now())

    def delete_one(self, *, actor, obj, now) -> None:
        tenancy.tenancy_delete(actor=actor, obj=obj, now=now)

    def save_formset(self, request, form, formset, change):
        if formset.model not in tenancy.AUDITED_MODELS:
            return super().save_formset(request, form, formset, change)
        actor, now = Actor.from_request(request), clock.now()
        instances = formset.save(commit=False)  # fills deleted_objects without deleting
        for obj in formset.deleted_objects:
            tenancy.tenancy_delete(actor=actor, obj=obj, now=now)
        for obj in instances:
            tenancy.tenancy_save(actor=actor, obj=obj, now=now)
        formset.save_m2m()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class AgentInline(admin.TabularInline):
    model = Agent
    extra = 0
    fields = ["slug", "name", "enabled", "description"]
    show_change_link = True


@admin.register(Organization)
class OrganizationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "slug", "name", "max_concurrent_runs", "timezone", "monthly_token_budget", "monthly_cost_budget_usd",
        "member_count", "agent_count", "schedule_count", "created_at",
    ]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline, AgentInline]

    def get_queryset(self, request):
        # distinct: three joins multiply rows otherwise.
        return (
            super()
            .get_queryset(request)
            .annotate(
                _members=Count("memberships", distinct=True),
                _agents=Count("agents", distinct=True),
                _schedules=Count("schedules", distinct=True),
            )
        )

    @admin.display(description=_("members"), ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description=_("agents"), ordering="_agents")
    def agent_count(self, obj):
        return obj._agents

    @admin.display(description=_("schedules"), ordering="_schedules")
    def schedule_count(self, obj):
        return obj._schedules


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    list_select_related = ["user", "org"]
    search_fields = ["user__username", "user__email", "org__slug", "org__name"]
    autocomplete_fields = ["user", "org"]
    readonly_fields = ["created_at"]


@admin.register(Agent)
class AgentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["slug", "name", "org", "enabled", "created_at"]
    list_filter = ["enabled", "org"]
    list_select_related = ["org"]
    search_fields = ["slug", "name", "org__slug"]
    autocomplete_fields = ["org"]
    readonly_fields = ["created_at"]


@admin.register(UsageMonth)
class UsageMonthAdmin(ReadOnlyAdmin):
    """Monthly usage totals against the budgets (schedules/budgets.py), for support: written
    when runs finish, never by hand. Change a budget on the org or the schedule instead."""

    list_display = ["month", "org", "schedule", "total_tokens", "cost_usd", "exceeded_at"]
    list_filter = ["month"]
    list_select_related = ["org", "schedule"]
    search_fields = ["org__slug", "schedule__name"]
    ordering = ["-month", "org"]
