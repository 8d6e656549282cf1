"""structlog set-up: readable console lines in DEBUG, JSON lines otherwise.

Context such as `request_id`, `schedule_id` and `job_run_id` is bound with
`structlog.contextvars.bind_contextvars` and lands on every line.
"""

import logging

import structlog


def _shared() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _final(renderer) -> list:
    return [structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer]


def configure_logging(fmt: str, level: str) -> dict:
    shared = _shared()
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        # filter_by_level first: a call at a disabled level is dropped before any formatting.
        # The call itself still costs several microseconds (structlog builds the event to filter
        # it), so a per-run line on a hot path checks `isEnabledFor` first (runs/dispatch.py).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": _final(renderer),
                "foreign_pre_chain": shared,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "django.server": {"level": level},
        },
    }


def json_formatter() -> logging.Formatter:
    """A stdlib formatter writing JSON lines like the rest of the project's log, for loggers
    that live outside Django's LOGGING (gunicorn's own error log, gunicorn.conf.py)."""
    return structlog.stdlib.ProcessorFormatter(
        processors=_final(structlog.processors.JSONRenderer()), foreign_pre_chain=_shared()
    )


__all__ = ["configure_logging", "json_formatter", "logging"]
