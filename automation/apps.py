from django.apps import AppConfig


class AutomationConfig(AppConfig):
    """The HTML pages under /automation/: the top layer, which combines schedules and runs.

    It may import config, schedules, runs and audit; nothing imports it.
    """

    name = "automation"
    verbose_name = "Automation pages"
    default_auto_field = "django.db.models.BigAutoField"
