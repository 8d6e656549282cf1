"""`manage.py seed_demo`: a demo org to click through, for local use only.

Creates (or finds, on a second run) org `demo`; user `demo` (password `demo`), the org's
admin, who uses the API and the pages like any org member and has no staff rights; user
`support` (password `support`), support staff for the Django admin, who holds the model
permissions the admin needs and belongs to no org; agent `echo` run by the local execution
plane (`agents/echo_agent.py`, declared in LOCAL_AGENTS); and one example schedule of each
type. Running it again changes nothing, except that it takes back staff rights and model
permissions that older versions gave `demo`.

Both logins have known passwords: never run this against a shared or production database.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from audit.services import Actor
from config import clock
from schedules.models import Agent, Membership, Organization, Role, Schedule
from schedules.services import schedule_create
from schedules.tenancy import agent_save, membership_save, organization_save

ORG_SLUG = "demo"
USERNAME = "demo"
PASSWORD = "demo"  # local use only; documented in the README and printed by `make run`
SUPPORT_USERNAME = "support"
SUPPORT_PASSWORD = "support"  # local use only, as above
AGENT_SLUG = "echo"

# What support staff may do in the admin: manage the schedules app, read runs and audit.
# Model permissions apply to every org; that is why only support holds them, never an org role.
SUPPORT_PERMISSIONS = (
    Q(content_type__app_label="schedules", codename__regex=r"^(view|add|change|delete)_")
    | Q(content_type__app_label__in=["runs", "audit"], codename__startswith="view_")
    | Q(content_type__app_label="auth", codename="view_user")  # the membership user picker
)


def example_schedules(now) -> list[dict]:
    """One schedule of each type; the `once` example fires tomorrow at the top of the hour."""
    tomorrow = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return [
        {
            "name": "Weekday morning briefing",
            "description": "Example cron schedule: 09:00 Shanghai time, Monday to Friday.",
            "prompt": "Write a short morning briefing: three priorities for today.",
            "output_type": "markdown",
            "schedule_type": "cron",
            "cron_expression": "0 9 * * 1-5",
            "timezone": "Asia/Shanghai",
        },
        {
            "name": "Hourly status echo",
            "description": "Example interval schedule: every hour from when it was created.",
            "prompt": "Report the status of the demo system in one paragraph.",
            "output_type": "markdown",
            "schedule_type": "interval",
            "interval_seconds": 3600,
            "timezone": "UTC",
        },
        {
            "name": "One-off launch summary",
            "description": "Example once schedule: fires a single time, then is finished.",
            "prompt": "Summarise the launch checklist as a Markdown table.",
            "output_type": "markdown",
            "schedule_type": "once",
            "run_at": tomorrow,
            "timezone": "UTC",
        },
    ]


class Command(BaseCommand):
    help = (
        "Create the demo org, users demo/demo (org admin) and support/support (admin site), agent echo and "
        "example schedules. Local use only. Idempotent."
    )

    actor = Actor(request_id="seed_demo")  # the org, memberships and agent are made by the system

    def handle(self, *args, **options):
        now = clock.now()
        with transaction.atomic():
            org = self.ensure_org(now)
            user = self.ensure_user(org, now)
            self.ensure_support_user()
            agent = self.ensure_agent(org, now)
            self.ensure_schedules(org, agent, user, now)
        if settings.EXECUTION_PLANE == "local" and AGENT_SLUG not in settings.LOCAL_AGENTS:
            self.stderr.write(
                f"warning: LOCAL_AGENTS has no '{AGENT_SLUG}' command, so the local plane cannot run it"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"demo ready (local use only): {USERNAME} / {PASSWORD} is the admin of org {ORG_SLUG} "
                f"(API and pages); {SUPPORT_USERNAME} / {SUPPORT_PASSWORD} is support staff (/admin/)"
            )
        )

    def report(self, created: bool, what: str) -> None:
        self.stdout.write(f"{'created' if created else 'found  '} {what}")

    def ensure_org(self, now) -> Organization:
        org = Organization.objects.filter(slug=ORG_SLUG).first()
        created = org is None
        if created:
            org = organization_save(actor=self.actor, org=Organization(slug=ORG_SLUG, name="Demo"), now=now)
        self.report(created, f"org {org.slug}")
        return org

    def ensure_password(self, user, password: str, created: bool) -> None:
        if created or not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            if not created:
                self.stdout.write(f"reset   password of user {user.get_username()}")

    def ensure_user(self, org: Organization, now):
        User = get_user_model()
        # An org admin and nothing more: no staff rights, no model permissions (those would
        # apply to every org), so the API, the pages and the admin treat demo exactly as
        # org demo's admin. Older seeds made demo staff; that is taken back here.
        user, created = User.objects.get_or_create(username=USERNAME, defaults={"email": "demo@example.com"})
        self.ensure_password(user, PASSWORD, created)
        self.report(created, f"user {USERNAME}")
        if user.is_staff or user.is_superuser or user.user_permissions.exists():
            user.is_staff = user.is_superuser = False
            user.save(update_fields=["is_staff", "is_superuser"])
            user.user_permissions.clear()
            self.stdout.write(f"revoked staff rights and model permissions of user {USERNAME}")
        membership = Membership.objects.filter(user=user, org=org).first()
        m_created = membership is None
        if membership is None:
            membership = Membership(user=user, org=org, role=Role.ADMIN)
            membership_save(actor=self.actor, membership=membership, now=now)
        elif membership.role != Role.ADMIN:
            membership.role = Role.ADMIN
            membership_save(actor=self.actor, membership=membership, now=now)
            self.stdout.write(f"updated membership of {USERNAME} in {org.slug} to admin")
        self.report(m_created, f"membership {USERNAME} in {org.slug} as admin")
        return user

    def ensure_support_user(self):
        User = get_user_model()
        # Staff for the admin, deliberately not a superuser: it holds the admin's model
        # permissions, and no org membership, so it has no say in the API or the pages.
        user, created = User.objects.get_or_create(
            username=SUPPORT_USERNAME, defaults={"is_staff": True, "email": "support@example.com"}
        )
        self.ensure_password(user, SUPPORT_PASSWORD, created)
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        # add() skips permissions the user already holds, so a second run writes nothing.
        user.user_permissions.add(*Permission.objects.filter(SUPPORT_PERMISSIONS))
        self.report(created, f"user {SUPPORT_USERNAME} (support staff, admin site)")
        return user

    def ensure_agent(self, org: Organization, now) -> Agent:
        agent = Agent.objects.filter(org=org, slug=AGENT_SLUG).first()
        created = agent is None
        if agent is None:
            agent = agent_save(
                actor=self.actor,
                agent=Agent(
                    org=org,
                    slug=AGENT_SLUG,
                    name="Echo",
                    description="Demo agent: answers with a Markdown echo of the prompt (agents/echo_agent.py "
                    "on the local plane, the graph `echo` of agents/langgraph_demo.py with PLANE=langgraph). "
                    "A prompt containing FAIL makes the run fail.",
                ),
                now=now,
            )
        self.report(created, f"agent {org.slug}/{agent.slug} ({settings.EXECUTION_PLANE} plane)")
        return agent

    def ensure_schedules(self, org, agent, user, now) -> None:
        actor = Actor(user=user, request_id="seed_demo")
        for data in example_schedules(now):
            # Found by name, so a second run neither duplicates nor re-times an example.
            existing = Schedule.objects.filter(org=org, name=data["name"]).first()
            if existing is not None:
                self.report(False, f"schedule '{existing.name}' ({existing.schedule_type})")
                continue
            schedule = schedule_create(actor=actor, org=org, data={**data, "agent": agent}, now=now)
            self.report(True, f"schedule '{schedule.name}' ({schedule.schedule_type}), next run {schedule.next_run_at}")
