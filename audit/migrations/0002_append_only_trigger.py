"""On PostgreSQL, the database itself refuses UPDATE and DELETE on the audit table.

The ORM already refuses (AppendOnlyQuerySet, AuditEvent.save/delete), but raw SQL, a
shell or another service would not go through it; the trigger makes the trail append-only
for every client. SQLite keeps the ORM guard only.

One UPDATE is let through: clearing `org_id` or `actor_id` and nothing else. Those are
ON DELETE SET NULL references, so deleting an org or a user must be able to detach its
events (the event keeps `actor_label`); refusing it would make orgs and users undeletable.
TRUNCATE is not blocked: test runners empty tables with it between tests.
"""

from django.db import migrations

TABLE = "audit_auditevent"
FUNCTION = "audit_event_append_only"

INSTALL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND (NEW.org_id IS NULL OR NEW.org_id IS NOT DISTINCT FROM OLD.org_id)
        AND (NEW.actor_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id)
        AND (to_jsonb(NEW) - 'org_id' - 'actor_id') = (to_jsonb(OLD) - 'org_id' - 'actor_id')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'audit events are append-only: ' || TG_OP || ' on {TABLE} is not allowed',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {FUNCTION}_row BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();
"""

UNINSTALL = f"""
DROP TRIGGER IF EXISTS {FUNCTION}_row ON {TABLE};
DROP FUNCTION IF EXISTS {FUNCTION}();
"""


# The SQL goes through the driver's placeholder parsing: it must not contain a percent sign.
assert "%" not in INSTALL + UNINSTALL


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
