"""The pages bench's same-run baseline: a bare Django view that answers the table's 50 rows
from a plain list, behind the project's whole middleware (sessions, locale, CSRF, auth,
messages, htmx) and the same login. Whatever a page costs beyond it is the page's own work:
its queries, its permissions, its rendering.

Served through `URLCONF` (the project's URLs plus this one), which bench_pages installs.
"""

from __future__ import annotations

from html import escape

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path

URLCONF = "tests.bench.bare"
PATH = "/bench/bare-rows/"
ROWS: list[tuple[str, ...]] = []  # set once by bench_pages: each row's cells, as text


@login_required
def bare_rows(request):
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>\n" for row in ROWS)
    return HttpResponse(f'<table class="schedules"><tbody>\n{body}</tbody></table>')


urlpatterns = [
    path(PATH.strip("/") + "/", bare_rows),
    path("", include("config.urls")),
]
