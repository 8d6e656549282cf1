from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self):
        from runs.alerts.metrics import open_alerts_family
        from runs.metrics.prometheus import register_family

        register_family(open_alerts_family)
