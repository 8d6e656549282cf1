"""`/metrics` (included by config/urls.py by dotted name: config imports no app)."""

from django.urls import path

from runs.api.metrics import prometheus_metrics

urlpatterns = [path("", prometheus_metrics, name="prometheus-metrics")]
