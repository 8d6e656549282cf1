import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('schedules', '0006_langgraph_agent_runtime'),
    ]

    operations = [
        migrations.AddField(
            model_name='schedule',
            name='jitter_seconds',
            field=models.PositiveIntegerField(db_default=0, default=0, help_text='Optional: start each run up to this many seconds after its time, e.g. 300; 0: on time.', validators=[django.core.validators.MaxValueValidator(3600)], verbose_name='jitter (seconds)'),
        ),
    ]
