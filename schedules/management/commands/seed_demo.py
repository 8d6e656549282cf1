"""`manage.py seed_demo`: a demo org to click through, for local use only.

Creates (or finds, on a second run) org `demo`, user `demo` with password `demo` as the org's
admin, agent `echo` run by the local execution plane (`agents/echo_agent.py`, declared in
LOCAL_AGENTS), and one example schedule of each type. Running it again changes nothing.

The demo/demo login is a known password: never run this against a shared or production
database.
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

ORG_SLUG = "demo"
USERNAME = "demo"
PASSWORD = "demo"  # local use only; documented in the README and printed by `make run`
AGENT_SLUG = "echo"

# What the demo user may do in the admin: manage the schedules app, read runs and audit.
ADMIN_PERMISSIONS = (
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
    help = "Create the demo org, user demo/demo (local use only), agent echo and example schedules. Idempotent."

    def handle(self, *args, **options):
        now = clock.now()
        with transaction.atomic():
            org = self.ensure_org()
            user = self.ensure_user(org)
            agent = self.ensure_agent(org)
            self.ensure_schedules(org, agent, user, now)
        if AGENT_SLUG not in settings.LOCAL_AGENTS:
            self.stderr.write(
                f"warning: LOCAL_AGENTS has no '{AGENT_SLUG}' command, so the local plane cannot run it"
            )
        self.stdout.write(self.style.SUCCESS(f"demo ready: log in as {USERNAME} / {PASSWORD} (local use only)"))

    def report(self, created: bool, what: str) -> None:
        self.stdout.write(f"{'created' if created else 'found  '} {what}")

    def ensure_org(self) -> Organization:
        org, created = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Demo"})
        self.report(created, f"org {org.slug}")
        return org

    def ensure_user(self, org: Organization):
        User = get_user_model()
        # Staff with model permissions (below), so the admin link printed by `make run` works;
        # deliberately not a superuser, so the API and pages treat demo exactly as org demo's
        # admin and show what that role can do.
        user, created = User.objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "email": "demo@example.com"}
        )
        if created or not user.check_password(PASSWORD):
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
            if not created:
                self.stdout.write(f"reset   password of user {USERNAME}")
        self.report(created, f"user {USERNAME}")
        # add() skips permissions the user already holds, so a second run writes nothing.
        user.user_permissions.add(*Permission.objects.filter(ADMIN_PERMISSIONS))
        membership, m_created = Membership.objects.get_or_create(
            user=user, org=org, defaults={"role": Role.ADMIN}
        )
        if membership.role != Role.ADMIN:
            membership.role = Role.ADMIN
            membership.save(update_fields=["role"])
            self.stdout.write(f"updated membership of {USERNAME} in {org.slug} to admin")
        self.report(m_created, f"membership {USERNAME} in {org.slug} as admin")
        return user

    def ensure_agent(self, org: Organization) -> Agent:
        agent, created = Agent.objects.get_or_create(
            org=org,
            slug=AGENT_SLUG,
            defaults={
                "name": "Echo",
                "description": "Demo agent on the local execution plane: answers with a Markdown echo of "
                "the prompt. A prompt containing FAIL makes the run fail.",
            },
        )
        self.report(created, f"agent {org.slug}/{agent.slug} (local plane)")
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
