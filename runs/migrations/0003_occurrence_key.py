"""Store each run's occurrence key instead of parsing it out of job_run_id.

Existing rows get the key their job_run_id encodes: `<stem>-<attempt>` (a scheduled attempt,
or a retry of a manual run) gives `<stem>`; any other id (a first manual run) is its own key.
This is the last place that parse exists. Reversible: going back drops the column.
"""

import re

from django.db import migrations, models

_ATTEMPT_SUFFIX = re.compile(r"^(?P<stem>.+)-(?P<attempt>\d+)$")
BATCH = 2000


def occurrence_key_of(job_run_id: str, attempt: int) -> str:
    match = _ATTEMPT_SUFFIX.match(job_run_id)
    if match and int(match["attempt"]) == attempt:
        return match["stem"]
    return job_run_id


def fill_occurrence_keys(apps, schema_editor):
    ScheduleRun = apps.get_model("runs", "ScheduleRun")
    rows = ScheduleRun.objects.filter(occurrence_key="").only("id", "job_run_id", "attempt").order_by("pk")
    batch = []
    for run in rows.iterator(chunk_size=BATCH):
        run.occurrence_key = occurrence_key_of(run.job_run_id, run.attempt)
        batch.append(run)
        if len(batch) >= BATCH:
            ScheduleRun.objects.bulk_update(batch, ["occurrence_key"])
            batch = []
    if batch:
        ScheduleRun.objects.bulk_update(batch, ["occurrence_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0002_active_by_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="schedulerun",
            name="occurrence_key",
            field=models.CharField(
                default="",
                help_text="Shared by every attempt of one occurrence; a retry's job_run_id is this plus '-<attempt>', e.g. 'sch-3f2a…-20261201T010000Z'.",
                max_length=80,
                verbose_name="occurrence",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_occurrence_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="schedulerun",
            name="error_code",
            field=models.CharField(
                blank=True,
                help_text="e.g. 'plane_unreachable', 'overlap' (RunErrorCode); a plane may report its own.",
                max_length=64,
                verbose_name="error code",
            ),
        ),
        migrations.AddIndex(
            model_name="schedulerun",
            index=models.Index(
                condition=models.Q(("attempt__gt", 1)),
                fields=["occurrence_key"],
                name="run_retries_by_occurrence",
            ),
        ),
    ]
