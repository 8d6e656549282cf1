"""Drafts from chat: a chat result waiting to become a schedule (docs/design.md, "From chat").

The chat app posts what produced a good answer (agent, prompt, output type, session and
message ids); the person opens the editor pre-filled from the draft, picks when, and saves.

A draft is its creator's alone: anyone else, in the org or not, is told it does not exist.
It expires after `SCHEDULE_DRAFT_TTL` seconds. Expired drafts are deleted when they are read
(the reader gets "not found"), by each new draft of the same org (so the table stays as
small as the drafts still waiting), and by `manage.py delete_expired_drafts` for orgs that
stopped making drafts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from audit.services import Actor
from config.errors import NotVisible
from schedules import permissions, services
from schedules.models import Organization, Schedule, ScheduleDraft
from schedules.permissions import WRITE

NAME_MAX = 60  # characters, the ellipsis included
# The end of the first sentence: a full stop, "!" or "?" before a space, or their CJK forms.
# Not the dots of an abbreviation such as "e.g." (a one-letter word before the dot).
SENTENCE_END = re.compile(r"(?<![.\s]\w)[.!?](?=\s)|[。！？]")
TRAILING_PUNCTUATION = re.compile(r"[\s.,;:!?。，；：！？、]+$")
# Lazy: read in the language of the request that is told.
DRAFT_NOT_FOUND = gettext_lazy("schedule draft not found: it may have expired; make a new one from the chat")


def suggested_name(prompt: str) -> str:
    """The prompt's first sentence as a schedule name, cut at a word boundary with an
    ellipsis when longer than NAME_MAX: "Summarise yesterday's sales by region as a PDF."
    -> "Summarise yesterday's sales by region as a PDF". A prompt in a language written
    without spaces is cut after NAME_MAX characters, with the ellipsis."""
    text = " ".join((prompt or "").split())
    sentence = SENTENCE_END.search(text)
    if sentence:
        text = text[: sentence.start() + 1]
    text = TRAILING_PUNCTUATION.sub("", text)
    if len(text) > NAME_MAX:
        cut = text[: NAME_MAX - 1]
        # Back to the last space when the cut fell inside a word (not when it fell on one).
        if " " in cut and text[NAME_MAX - 1] != " ":
            cut = cut.rsplit(" ", 1)[0]
        text = TRAILING_PUNCTUATION.sub("", cut) + "…"
    return text[:1].upper() + text[1:]


@transaction.atomic
def draft_create(*, user, org: Organization, data: dict, now: datetime) -> ScheduleDraft:
    """A draft for `user` in `org`, validated as a schedule's same fields would be."""
    permissions.check_org_perm(user, org, WRITE)
    agent = services.agent_for_org(org, data["agent"])
    errors = {}
    if not agent.enabled:
        errors["agent"] = services.agent_disabled(agent)
    if problem := services.prompt_problem(data.get("prompt")):
        errors["prompt"] = problem
    if errors:
        raise ValidationError(errors)
    ScheduleDraft.objects.filter(org=org, expires_at__lte=now).delete()
    return ScheduleDraft.objects.create(
        org=org,
        created_by=user,
        agent=agent,
        name=(data.get("name") or "").strip() or suggested_name(data["prompt"]),
        prompt=data["prompt"],
        output_type=data.get("output_type") or ScheduleDraft._meta.get_field("output_type").default,
        params=data.get("params") or {},
        session_id=data["session_id"],
        message_id=data.get("message_id") or "",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SCHEDULE_DRAFT_TTL),
    )


def draft_get(*, user, draft_id, now: datetime) -> ScheduleDraft:
    """The user's own live draft; NotVisible for anyone else's, a missing or an expired one."""
    pk = permissions.parse_uuid(draft_id)
    draft = ScheduleDraft.objects.select_related("org", "agent").filter(pk=pk).first() if pk else None
    if draft is None or draft.created_by_id != getattr(user, "pk", None):
        raise NotVisible(DRAFT_NOT_FOUND)
    if draft.expires_at <= now:
        draft.delete()
        raise NotVisible(DRAFT_NOT_FOUND)
    return draft


@transaction.atomic
def draft_save(*, actor: Actor, draft: ScheduleDraft, data: dict, now: datetime) -> tuple[Schedule, bool]:
    """Create the draft's schedule from `data` (what the editor adds: name, timing, policies),
    keeping the chat's session and message ids. Saving the same draft again, even twice at
    once, returns the first schedule and False: the draft row is locked while it is read."""
    locked = ScheduleDraft.objects.select_for_update().filter(pk=draft.pk).first()
    if locked is None:
        raise NotVisible(DRAFT_NOT_FOUND)
    if locked.schedule_id is not None:
        existing = Schedule.objects.select_related("org", "agent").filter(pk=locked.schedule_id).first()
        if existing is not None:
            return existing, False
    data = {
        "params": locked.params,
        **data,
        "source_session_id": locked.session_id,
        "source_message_id": locked.message_id,
    }
    schedule = services.schedule_create(actor=actor, org=locked.org, data=data, now=now)
    locked.schedule = schedule
    locked.save(update_fields=["schedule"])
    return schedule, True


def drafts_delete_expired(*, now: datetime) -> int:
    deleted, _ = ScheduleDraft.objects.filter(expires_at__lte=now).delete()
    return deleted
