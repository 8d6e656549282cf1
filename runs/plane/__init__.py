"""Execution-plane clients. `get_client()` picks one by `settings.EXECUTION_PLANE`."""

from __future__ import annotations

from django.conf import settings

from runs.plane.base import PlaneClient, PlaneError, PlaneResult, PlaneStatus, StartResult


def get_client() -> PlaneClient:
    kind = settings.EXECUTION_PLANE
    if kind == "http":
        from runs.plane.http import HttpPlaneClient

        return HttpPlaneClient.from_settings()
    if kind == "langgraph":
        from runs.plane.langgraph import LangGraphPlaneClient

        return LangGraphPlaneClient.from_settings()
    if kind == "local":
        from runs.plane.local import LocalPlaneClient

        return LocalPlaneClient()
    raise ValueError(f"EXECUTION_PLANE must be 'http', 'langgraph' or 'local', got {kind!r}")


__all__ = ["PlaneClient", "PlaneError", "PlaneResult", "PlaneStatus", "StartResult", "get_client"]
