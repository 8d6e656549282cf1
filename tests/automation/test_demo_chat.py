"""The demo chat page: on with DEBUG or DEMO_CHAT only; its downloads are real PDF and XLSX files."""

from __future__ import annotations

import io
import zipfile

import pytest

pytestmark = pytest.mark.django_db

PAGE = "/demo/chat/sess-42/"


def test_the_demo_is_off_in_production(signed_in, eddie, settings):
    settings.DEBUG, settings.DEMO_CHAT = False, False
    client = signed_in(eddie)
    assert client.get(PAGE).status_code == 404
    assert client.get(PAGE + "files/sales-summary.pdf").status_code == 404


@pytest.mark.parametrize("switch", ["DEBUG", "DEMO_CHAT"])
def test_the_demo_shows_a_finished_chat_with_the_button_under_the_answer(signed_in, eddie, settings, switch):
    settings.DEBUG, settings.DEMO_CHAT = False, False
    setattr(settings, switch, True)
    response = signed_in(eddie).get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200 and "csrftoken" in response.cookies
    assert "Summarise yesterday's sales by region as a PDF." in html
    answer = html[html.index('id="msg-2"'):]
    assert answer.index("Download the PDF") < answer.index("<make-schedule-button")
    assert 'session-id="sess-42" message-id="msg-2"' in answer and 'prompt-from="#question-1"' in answer
    assert "/static/schedules/make-schedule-button.js" in html


def test_the_downloads_are_a_valid_pdf_and_xlsx(signed_in, eddie, settings):
    settings.DEMO_CHAT = True
    client = signed_in(eddie)
    pdf = client.get(PAGE + "files/sales-summary.pdf")
    assert pdf["Content-Type"] == "application/pdf" and "attachment" in pdf["Content-Disposition"]
    body = pdf.content
    assert body.startswith(b"%PDF-1.4") and body.rstrip().endswith(b"%%EOF")
    # The cross-reference table points at each object, as readers check.
    xref_at = int(body.rsplit(b"startxref", 1)[1].split()[0])
    offsets = [int(line[:10]) for line in body[xref_at:].split(b"\n")[3:8]]
    assert all(body[o:].startswith(b"%d 0 obj" % n) for n, o in enumerate(offsets, start=1))
    assert b"APAC: 412 orders" in body

    xlsx = client.get(PAGE + "files/sales-summary.xlsx")
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as archive:
        assert archive.testzip() is None
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= set(archive.namelist())
        assert "<t>APAC</t>" in archive.read("xl/worksheets/sheet1.xml").decode()
    assert client.get(PAGE + "files/other.exe").status_code == 404


def test_the_demo_page_asks_for_a_login(client, settings):
    settings.DEMO_CHAT = True
    assert client.get(PAGE).status_code == 302
