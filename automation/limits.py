"""The API's rate limits on the pages' actions: the same throttle classes, the same counts.

A page action that starts runs (run now, retry, backfill) draws on the API's run bucket,
every other change on its write bucket, so a person has one budget per bucket whichever way
they click. Over the rate, `page_errors` answers 429 with a Retry-After.
"""

from __future__ import annotations

from functools import wraps

from config.api.throttling import RunThrottle, WriteThrottle, check_rate


def throttled(*classes):
    """Check each throttle class before the view runs (put it under `page_errors`)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            for throttle_class in classes:
                check_rate(throttle_class, request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


starts_runs = throttled(RunThrottle)
writes = throttled(WriteThrottle)  # only unsafe methods count: a GET of the same view is free
