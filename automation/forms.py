"""Forms of the pages (the table's filters, the viewer's preferences).

They only read query strings and choices; what a schedule may be is decided by the services.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext_lazy as _

from schedules.models import ScheduleStatus

FILTER_FIELDS = ("q", "status", "agent")


class TableFilters(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(label=_("Status"), required=False)
    agent = forms.ChoiceField(label=_("Agent"), required=False)
    cursor = forms.CharField(required=False, max_length=300)

    def __init__(self, data, *, agents, org_slug: str):
        super().__init__(data)
        self.org_slug = org_slug
        self.fields["status"].choices = [("", _("All")), *ScheduleStatus.choices]
        self.fields["agent"].choices = [("", _("All")), *((a.slug, a.name) for a in agents)]

    def values(self) -> dict[str, str]:
        """The filters that are valid; a hand-edited value the form refuses counts as unset."""
        self.is_valid()
        return {name: self.cleaned_data.get(name) or "" for name in (*FILTER_FIELDS, "cursor")}

    @property
    def active(self) -> bool:
        values = self.values()
        return any(values[name] for name in FILTER_FIELDS)

    def query(self, **changes) -> str:
        """The query string of these filters (org first), with `changes` applied; no cursor
        unless given, since a changed filter starts from the first page."""
        values = {"org": self.org_slug, **{k: v for k, v in self.values().items() if k != "cursor"}, **changes}
        return urlencode({k: v for k, v in values.items() if v})
