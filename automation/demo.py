"""The demo chat page, /demo/chat/<session_id>/: a finished conversation with the "Make this
a schedule" button under the answer. It stands in for the chat app (another project) in the
demo (`make run`) and in the browser tests.

On only with DEBUG or DEMO_CHAT=true; otherwise every URL here is a 404, so production
serves nothing of it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from automation import demo_files

# The demo org's agent (manage.py seed_demo) and the answer's message id.
DEMO_AGENT = "echo"
ANSWER_ID = "msg-2"
SALES = [["Region", "Orders", "Revenue"], ["APAC", 412, 58210.5], ["EMEA", 318, 44102.0], ["Americas", 377, 51980.25]]
FILES = {
    "sales-summary.pdf": "application/pdf",
    "sales-summary.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _demo_on() -> None:
    if not (settings.DEBUG or settings.DEMO_CHAT):
        raise Http404("the demo chat is off")


@require_GET
@login_required
@ensure_csrf_cookie  # the button posts with the session and reads the CSRF token from the cookie
def chat(request, session_id: str):
    _demo_on()
    context = {"session_id": session_id, "agent": DEMO_AGENT, "answer_id": ANSWER_ID, "sales": SALES[1:]}
    return render(request, "demo/chat.html", context)


@require_GET
@login_required
def chat_file(request, session_id: str, name: str):
    _demo_on()
    if name not in FILES:
        raise Http404("no such file")
    if name.endswith(".pdf"):
        lines = ["Sales summary, yesterday"] + [f"{r}: {o} orders, {v:,.2f} revenue" for r, o, v in SALES[1:]]
        body = demo_files.pdf(lines)
    else:
        body = demo_files.xlsx(SALES)
    response = HttpResponse(body, content_type=FILES[name])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urlpatterns = [
    path("chat/<str:session_id>/", chat, name="demo-chat"),
    path("chat/<str:session_id>/files/<str:name>", chat_file, name="demo-chat-file"),
]
