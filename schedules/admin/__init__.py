"""Admin for support staff: organizations, memberships, agents, schedules and drafts.

Only staff users reach the admin (Django's own rule), and what each may do here is the
model permissions given to them; an org role never grants any. Schedules are written
through `schedules.services` here as everywhere, so a save in the admin validates like the
API, computes `next_run_at` and leaves an audit event; organizations, memberships and
agents (inlines included) go through `schedules.tenancy`, which audits them the same way.
"""

from schedules.admin import drafts, orgs, schedule  # noqa: F401 - each module registers its models
