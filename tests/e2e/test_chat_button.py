"""From a chat result to a saved schedule in Chromium: the demo chat page stands in for the
chat app; "Make this a schedule", a preset, "Save": three actions. The button's failures stay
inside the button; the page around it keeps working (messages, downloads)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from schedules.models import Schedule, ScheduleDraft
from tests.e2e.test_drawer import acme, eddie, sign_in  # noqa: F401 (fixtures: org acme with agent echo, its editor)
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

SESSION = "sess-42"
WORDS = {
    "en": {"button": "Make this a schedule", "preset": "Weekdays at 09:00", "save": "Save", "dialog": "New schedule",
           "from_chat": "From chat", "question": "Summarise yesterday's sales by region as a PDF.",
           "pdf": "Download the PDF", "xlsx": "Download the spreadsheet (XLSX)"},
    "zh-hans": {"button": "设为定时任务", "preset": "工作日 09:00", "save": "保存", "dialog": "新建定时任务",
                "from_chat": "来自聊天", "question": "按地区汇总昨天的销售额，生成 PDF。",
                "pdf": "下载 PDF", "xlsx": "下载电子表格（XLSX）"},
}


@pytest.fixture(autouse=True)
def demo_chat(settings, live_server):
    settings.DEMO_CHAT = True
    settings.EXECUTION_PLANE_SESSION_URL = live_server.url + "/demo/chat/{session_id}/"


def open_chat(page: Page, live_server, user: str = "eddie", lang: str = "en"):
    if lang != "en":
        page.set_extra_http_headers({"Accept-Language": lang})
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/demo/chat/{SESSION}/")


def outside_the_button(page: Page) -> str:
    """The host page as it stands: the button's shadow root is not part of it."""
    return page.evaluate("document.body.outerHTML")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_three_actions_turn_a_chat_answer_into_a_saved_schedule(page: Page, live_server, eddie, lang):
    words = WORDS[lang]
    open_chat(page, live_server, lang=lang)
    actions = 0

    page.get_by_role("button", name=words["button"]).click()
    actions += 1
    drawer = page.get_by_role("dialog", name=words["dialog"])
    expect(drawer).to_be_visible()
    assert drawer.evaluate("dialog => dialog.matches(':modal')")  # over the table, as from "New schedule"
    expect(drawer.get_by_role("link", name=SESSION)).to_have_attribute("href", re.compile(f"/demo/chat/{SESSION}/$"))
    drawer.get_by_role("button", name=words["preset"]).click()
    actions += 1
    drawer.get_by_role("button", name=words["save"]).click()
    actions += 1

    expect(page).to_have_url(re.compile(r"/automation/schedules/[0-9a-f-]{36}/$"))
    schedule = Schedule.objects.get()
    assert actions == 3
    assert (schedule.cron_expression, schedule.output_type, schedule.prompt) == ("0 9 * * 1-5", "pdf", words["question"])
    assert (schedule.source_session_id, schedule.source_message_id) == (SESSION, "msg-2")
    row = page.locator(f"#schedule-{schedule.pk}-row")
    expect(row).to_have_attribute("aria-current", "true")
    expect(row.get_by_role("link", name=schedule.name)).to_be_visible()
    expect(row.get_by_role("link", name=words["from_chat"])).to_have_attribute("href", f"{live_server.url}/demo/chat/{SESSION}/")
    expect(page.get_by_role("region", name="Runs" if lang == "en" else "运行记录")).to_be_visible()
    assert ScheduleDraft.objects.get().schedule_id == schedule.pk


def test_the_chat_page_still_renders_and_downloads_with_the_button_loaded(page: Page, live_server, eddie):
    words = WORDS["en"]
    open_chat(page, live_server)
    expect(page.get_by_role("button", name=words["button"])).to_be_visible()  # the script ran
    expect(page.get_by_text(words["question"])).to_be_visible()
    expect(page.get_by_text("Here is yesterday's sales summary by region.")).to_be_visible()
    expect(page.get_by_role("cell", name="APAC")).to_be_visible()

    with page.expect_download() as pdf:
        page.get_by_role("link", name=words["pdf"]).click()
    assert pdf.value.suggested_filename == "sales-summary.pdf"
    assert open(pdf.value.path(), "rb").read().startswith(b"%PDF-1.4")
    with page.expect_download() as xlsx:
        page.get_by_role("link", name=words["xlsx"]).click()
    with zipfile.ZipFile(io.BytesIO(open(xlsx.value.path(), "rb").read())) as archive:
        assert "xl/worksheets/sheet1.xml" in archive.namelist()
    # The button's styles stay in its shadow root: the page's own links keep their look.
    assert page.get_by_role("link", name=words["pdf"]).evaluate("a => getComputedStyle(a).backgroundColor") == "rgba(0, 0, 0, 0)"


def test_the_api_down_shows_a_readable_message_in_the_button_and_nothing_else_changes(page: Page, live_server, eddie):
    open_chat(page, live_server)
    button = page.get_by_role("button", name="Make this a schedule")
    expect(button).to_be_visible()
    before = outside_the_button(page)
    page.route("**/api/v1/schedule-drafts/", lambda route: route.abort("connectionrefused"))

    button.click()

    message = page.locator("make-schedule-button").get_by_role("alert")
    expect(message).to_have_text("The schedules service could not be reached. Try again in a moment.")
    expect(button).to_be_enabled()
    assert outside_the_button(page) == before
    assert page.url.endswith(f"/demo/chat/{SESSION}/") and not ScheduleDraft.objects.exists()


def test_a_refusal_from_the_api_is_shown_in_the_button(page: Page, live_server, acme):
    make_user("victor", acme, "viewer")  # may read, not write: the API answers 403
    page.goto(f"{live_server.url}/accounts/login/?next=/demo/chat/{SESSION}/")
    page.get_by_label("Username").fill("victor")
    page.get_by_label("Password").fill("pw-victor")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/demo/chat/{SESSION}/")
    before = outside_the_button(page)

    page.get_by_role("button", name="Make this a schedule").click()

    expect(page.locator("make-schedule-button").get_by_role("alert")).to_have_text(
        "You may not create schedules in this organization. Ask an admin of it."
    )
    assert outside_the_button(page) == before and not ScheduleDraft.objects.exists()


def test_a_400_shows_the_apis_reason(page: Page, live_server, eddie, acme):
    acme.agents.update(enabled=False)
    open_chat(page, live_server)
    page.get_by_role("button", name="Make this a schedule").click()
    expect(page.locator("make-schedule-button").get_by_role("alert")).to_have_text(
        "This answer cannot become a schedule: agent 'echo' is disabled"
    )


@pytest.fixture
def chat_app():
    """A stand-in chat app on its own origin (another loopback port): serves one page, set later."""
    pages = {}

    class Handler(QuietHandler):
        def do_GET(self):
            self.reply(200, "text/html; charset=utf-8", pages.get("html", "").encode())

    with serving(Handler) as origin:
        yield origin, pages


class QuietHandler(BaseHTTPRequestHandler):
    """Answers with `reply`; logs nothing. `headers_out`: sent with every answer."""

    headers_out: dict[str, str] = {}

    def reply(self, status: int, content_type: str = "", body: bytes = b""):
        self.send_response(status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(handler):
    """A loopback HTTP server with `handler` on a thread; yields its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_chat_app_on_another_origin_uses_a_token(page: Page, live_server, eddie, settings, chat_app):
    from rest_framework.authtoken.models import Token

    chat_origin, pages = chat_app
    settings.CORS_ALLOWED_ORIGINS = [chat_origin]
    key = Token.objects.create(user=eddie).key
    sign_in(page, live_server)  # the person is signed in to the schedules site, where the editor opens
    pages["html"] = f"""<!doctype html><html lang="en"><body>
      <p id="q">Count yesterday's orders</p>
      <script src="{live_server.url}/static/schedules/make-schedule-button.js"></script>
      <make-schedule-button agent="echo" session-id="sess-x" output-type="csv" prompt-from="#q" token="{key}">
      </make-schedule-button></body></html>"""
    page.goto(f"{chat_origin}/answer")

    page.get_by_role("button", name="Make this a schedule").click()

    expect(page.get_by_role("dialog", name="New schedule")).to_be_visible()
    assert page.url.startswith(f"{live_server.url}/automation/schedules/new/?draft=")
    draft = ScheduleDraft.objects.get()
    assert (draft.created_by, draft.prompt, draft.output_type) == (eddie, "Count yesterday's orders", "csv")


@pytest.fixture
def hostile_api():
    """An `api` that answers every draft with 201 and the URL set in `answer["url"]` (CORS open)."""
    answer = {}

    class Handler(QuietHandler):
        headers_out = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*", "Access-Control-Allow-Methods": "POST"}

        def do_OPTIONS(self):
            self.reply(204)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.reply(201, "application/json", json.dumps({"url": answer["url"]}).encode())

    with serving(Handler) as origin:
        yield origin, answer


@pytest.mark.parametrize("url", ["javascript:document.title=document.body.innerText.slice(0,40)", "https://elsewhere.example/x"])
def test_the_button_follows_only_an_http_url_on_the_apis_origin(page: Page, live_server, chat_app, hostile_api, url):
    chat_origin, pages = chat_app
    api, answer = hostile_api
    answer["url"] = url
    pages["html"] = f"""<!doctype html><html lang="en"><head><title>Chat</title></head><body>
      <p id="q">secret chat text</p>
      <script src="{live_server.url}/static/schedules/make-schedule-button.js"></script>
      <make-schedule-button agent="echo" prompt-from="#q" api="{api}"></make-schedule-button></body></html>"""
    page.goto(f"{chat_origin}/answer")

    page.get_by_role("button", name="Make this a schedule").click()

    expect(page.locator("make-schedule-button").get_by_role("alert")).to_have_text(
        "The schedules service answered with an address this button does not open."
    )
    assert page.title() == "Chat", "no script ran in the chat page"
    assert page.url == f"{chat_origin}/answer"
