"""Who may do what to which schedule: the grants, the visibility rule and the checks.

Permissions come from three places, unioned:
- the user's Membership role in the schedule's org (ROLE_PERMISSIONS);
- django-guardian object grants on one schedule (user or group), which add to the role;
- for staff, model-level Django permissions (`schedules.schedules_read` ...) granted in the
  admin, which apply to every org; a superuser holds everything.

Holding any permission on a schedule makes it readable: a grant of `schedules:run` on one
schedule of an org the user is not a member of must let them see what they run.

Every API endpoint and page reads schedules through `schedules.selectors`
(`schedules_visible_to` / `get_schedule_for`), which apply the rule written here, so the
tenancy rule ("another org's object is a 404, a missing permission a 403 naming it") lives
here only. It raises the domain errors `NotVisible` and `MissingPermission`
(`config/errors.py`); the API and the pages map them to their own answers. Lists are filtered in one query by permitted org ids OR granted schedule ids; no
per-row checks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from config.errors import MissingPermission, NotVisible
from schedules.models import Membership, Organization, Role, Schedule

READ = "schedules:read"
WRITE = "schedules:write"
RUN = "schedules:run"
DELETE = "schedules:delete"
ALL_PERMISSIONS = frozenset({READ, WRITE, RUN, DELETE})

# Django permission codename (Schedule.Meta.permissions) for each API permission name.
CODENAMES = {perm: perm.replace(":", "_") for perm in ALL_PERMISSIONS}
_BY_CODENAME = {codename: perm for perm, codename in CODENAMES.items()}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({READ}),
    Role.OPERATOR: frozenset({READ, RUN}),
    Role.EDITOR: frozenset({READ, WRITE, RUN}),
    Role.ADMIN: ALL_PERMISSIONS,
}


@dataclass
class Grants:
    """Everything one user holds, loaded in a constant number of queries."""

    everywhere: frozenset[str] = frozenset()  # superuser / staff model permissions
    by_org: dict[int, frozenset[str]] = field(default_factory=dict)
    by_schedule: dict[uuid.UUID, frozenset[str]] = field(default_factory=dict)

    def for_org(self, org_id) -> frozenset[str]:
        return self.everywhere | self.by_org.get(org_id, frozenset())

    def for_schedule(self, schedule: Schedule) -> frozenset[str]:
        perms = self.for_org(schedule.org_id) | self.by_schedule.get(schedule.pk, frozenset())
        return perms | {READ} if perms else perms

    def is_admin(self, org_id) -> bool:
        """Holds every permission on the whole org (the admin role, a superuser)."""
        return ALL_PERMISSIONS <= self.for_org(org_id)

    def org_ids(self, perm: str) -> list[int]:
        return [org_id for org_id, perms in self.by_org.items() if perm in perms]

    def schedule_ids(self, perm: str) -> list[uuid.UUID]:
        # Any object grant implies read (see the module docstring).
        return [pk for pk, perms in self.by_schedule.items() if perm == READ or perm in perms]


def grants_for(user) -> Grants:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Grants()
    if user.is_superuser:
        return Grants(everywhere=ALL_PERMISSIONS)
    everywhere: frozenset[str] = frozenset()
    if user.is_staff:
        # Model-level permissions given to support staff in the admin (cached on the user).
        everywhere = frozenset(
            _BY_CODENAME[name.split(".", 1)[1]]
            for name in user.get_all_permissions()
            if name.startswith("schedules.") and name.split(".", 1)[1] in _BY_CODENAME
        )
        if everywhere:
            everywhere |= {READ}  # any permission implies read, as for object grants
    by_org = {
        org_id: ROLE_PERMISSIONS.get(role, frozenset())
        for org_id, role in Membership.objects.filter(user=user).values_list("org_id", "role")
    }
    return Grants(everywhere=everywhere, by_org=by_org, by_schedule=_object_grants(user))


def _object_grants(user) -> dict[uuid.UUID, frozenset[str]]:
    """Guardian grants on schedules, the user's own and their groups', in one query.

    Raw SQL because this runs on every request and the ORM's UNION costs more to build than
    to execute.
    """
    from django.contrib.auth.models import Permission
    from guardian.models import GroupObjectPermission, UserObjectPermission

    content_type = ContentType.objects.get_for_model(Schedule)
    user_table = UserObjectPermission._meta.db_table
    group_table = GroupObjectPermission._meta.db_table
    perm_table = Permission._meta.db_table
    groups_table = get_user_model()._meta.get_field("groups").remote_field.through._meta.db_table
    sql = f"""
        SELECT o.object_pk, p.codename FROM {user_table} o JOIN {perm_table} p ON p.id = o.permission_id
        WHERE o.user_id = %s AND o.content_type_id = %s
        UNION ALL
        SELECT o.object_pk, p.codename FROM {group_table} o JOIN {perm_table} p ON p.id = o.permission_id
        JOIN {groups_table} ug ON ug.group_id = o.group_id
        WHERE ug.user_id = %s AND o.content_type_id = %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, content_type.pk, user.pk, content_type.pk])
        rows = cursor.fetchall()
    out: dict[uuid.UUID, set[str]] = {}
    for object_pk, codename in rows:
        perm = _BY_CODENAME.get(codename)
        pk = parse_uuid(object_pk)
        if perm and pk:
            out.setdefault(pk, set()).add(perm)
    return {pk: frozenset(perms) for pk, perms in out.items()}


def parse_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def grants_filter(grants: Grants, perm: str, *, org_field: str, schedule_field: str) -> Q | None:
    """A Q selecting rows the grants allow, or None when everything is allowed."""
    if perm in grants.everywhere:
        return None
    q = Q(**{f"{org_field}__in": grants.org_ids(perm)})
    schedule_ids = grants.schedule_ids(perm)
    if schedule_ids:
        # Only add the OR when there are object grants: a plain `org_id IN (...)` keeps the
        # list on the (org, created_at) index.
        q |= Q(**{f"{schedule_field}__in": schedule_ids})
    return q


def visible_filter(user, perm: str = READ, *, org_field: str = "org_id", schedule_field: str = "pk") -> Q | None:
    """The visibility rule as a Q, for querysets of other models (runs, audit events)."""
    return grants_filter(grants_for(user), perm, org_field=org_field, schedule_field=schedule_field)


def restrict(queryset: QuerySet, user, perm: str = READ, *, org_field="org_id", schedule_field="pk") -> QuerySet:
    q = visible_filter(user, perm, org_field=org_field, schedule_field=schedule_field)
    return queryset if q is None else queryset.filter(q)


def check_schedule_perm(user, schedule: Schedule, perm: str, *, grants: Grants | None = None) -> None:
    """Raise NotVisible when `schedule` is not readable, MissingPermission when `perm` is not held."""
    perms = (grants or grants_for(user)).for_schedule(schedule)
    if READ not in perms:
        raise NotVisible(_("schedule not found"))
    if perm not in perms:
        raise MissingPermission(perm)


def check_org_perm(user, org: Organization, perm: str) -> None:
    """MissingPermission unless the user holds `perm` on the whole org (creating in it).

    The caller hides orgs the user cannot read (as an unknown org) before asking this."""
    if perm not in grants_for(user).for_org(org.pk):
        raise MissingPermission(perm)
