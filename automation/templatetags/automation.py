"""Template tags of the pages: thin wrappers of automation/formatting.py (the helpers' one
home), and the table's rows (automation/rows.py)."""

from __future__ import annotations

from django import template

from automation import formatting
from automation.rows import render_rows

register = template.Library()

register.simple_tag(formatting.local_time, name="local_time")
register.simple_tag(formatting.relative, name="relative")
for _name in ("intcomma_plain", "duration", "describe_timing", "raw_timing", "schedule_status_label", "web_url", "session_url", "plane_refs",
              "source_chat_url"):
    register.filter(_name, getattr(formatting, _name))


@register.simple_tag(takes_context=True)
def schedule_rows(context):
    """The table's rows, built in Python (automation/rows.py)."""
    return render_rows(context)
