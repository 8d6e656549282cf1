from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project itself as an app, so its system checks run with every command."""

    name = "config"
    label = "project"
    verbose_name = "Project settings"

    def ready(self):
        from config import checks  # noqa: F401 - registers the checks
