"""The editor's "Success means" and "Budget" sections: fields, what they show, what they save.

The schedule editor's form (automation/editor.py) inherits these fields; what a check means is
`schedules.checks`' and what a budget means `schedules.budgets'`. Rendered by
templates/automation/outcome_fields.html.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from schedules import checks
from schedules.models import OutputType, Schedule

MONEY = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0.01"), "required": False}
# One form field per check kind that takes a value; output_present is a checkbox.
VALUE_FIELDS = {
    "check_min_size": (checks.MIN_SIZE, "bytes"),
    "check_contains": (checks.CONTAINS, "text"),
    "check_not_contains": (checks.NOT_CONTAINS, "text"),
    "check_regex": (checks.REGEX, "pattern"),
    "check_json_schema": (checks.JSON_SCHEMA, "schema"),
}
BUDGET_FIELDS = ("monthly_token_budget", "monthly_cost_budget_usd", "max_tokens", "max_cost_usd")


class OutcomeFields(forms.Form):
    check_output_present = forms.BooleanField(
        label=_("An output of the output type comes back"), required=False,
        help_text=_("e.g. a PDF for a PDF schedule. Not for output type None."),
    )
    check_min_size = forms.IntegerField(
        label=_("Each such output is at least (bytes)"), min_value=1, required=False, help_text=_("e.g. 1024. Empty: any size.")
    )
    check_contains = forms.CharField(
        label=_("The answer contains"), max_length=checks.MAX_TEXT, required=False, help_text=_("e.g. Total")
    )
    check_not_contains = forms.CharField(
        label=_("The answer does not contain"), max_length=checks.MAX_TEXT, required=False, help_text=_("e.g. ERROR")
    )
    check_regex = forms.CharField(
        label=_("The answer matches the regular expression"), max_length=checks.MAX_TEXT, required=False,
        help_text=_("RE2 syntax, searched anywhere in the answer, e.g. ^# Sales"),
    )
    check_json_schema = forms.CharField(
        label=_("The JSON answer matches this JSON Schema"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('Output type JSON only, e.g. {"type": "object", "required": ["total"]}'),
    )
    retry_failed_checks = forms.BooleanField(
        label=_("Retry when a check fails"), required=False,
        help_text=_("Agents are nondeterministic: another attempt often produces what was missing."),
    )
    monthly_token_budget = forms.IntegerField(
        label=_("Monthly token budget"), min_value=1, required=False, help_text=_("e.g. 2000000. Empty: no limit.")
    )
    monthly_cost_budget_usd = forms.DecimalField(
        label=_("Monthly cost budget (USD)"), help_text=_("e.g. 20.00. Empty: no limit."), **MONEY
    )
    max_tokens = forms.IntegerField(
        label=_("Max tokens per run"), min_value=1, required=False,
        help_text=_("Passed to the execution plane, for runtimes that enforce it."),
    )
    max_cost_usd = forms.DecimalField(
        label=_("Max cost per run (USD)"), help_text=_("Passed to the execution plane, for runtimes that enforce it."), **MONEY
    )

    def clean_check_regex(self):
        pattern = self.cleaned_data.get("check_regex") or ""
        if pattern:
            try:
                checks.compile_regex(pattern)
            except ValueError as exc:
                raise ValidationError(_("Not a regular expression RE2 accepts: %(error)s") % {"error": exc}) from None
        return pattern

    def clean_check_json_schema(self):
        text = (self.cleaned_data.get("check_json_schema") or "").strip()
        if not text:
            return None
        try:
            schema = json.loads(text)
        except ValueError:
            raise ValidationError(_("Enter a JSON object, e.g. {\"type\": \"object\"}")) from None
        if not isinstance(schema, dict):
            raise ValidationError(_("Enter a JSON object, e.g. {\"type\": \"object\"}"))
        return schema

    def outcome_checks(self) -> list[dict]:
        """The checks typed, as `success_checks` (schedules.checks validates them on save)."""
        data = self.cleaned_data
        found = []
        if data.get("check_output_present") and data.get("output_type") != OutputType.NONE:
            found.append({"kind": checks.OUTPUT_PRESENT})
        for name, (kind, argument) in VALUE_FIELDS.items():
            value = data.get(name)
            if value not in (None, ""):
                found.append({"kind": kind, argument: value})
        return found

    def outcome_data(self) -> dict:
        data = self.cleaned_data
        return {
            "success_checks": self.outcome_checks(),
            "retry_failed_checks": bool(data.get("retry_failed_checks")),
            **{name: data.get(name) for name in BUDGET_FIELDS},
        }


def outcome_initial(schedule: Schedule | None) -> dict:
    """What the sections show: a new schedule checks for an output and retries a failed check."""
    if schedule is None:
        return {"check_output_present": True, "retry_failed_checks": True}
    shown = {"retry_failed_checks": schedule.retry_failed_checks, **{n: getattr(schedule, n) for n in BUDGET_FIELDS}}
    for check in schedule.success_checks or []:
        kind = check.get("kind")
        if kind == checks.OUTPUT_PRESENT:
            shown["check_output_present"] = True
        for name, (field_kind, argument) in VALUE_FIELDS.items():
            if kind == field_kind:
                value = check.get(argument)
                shown[name] = json.dumps(value) if isinstance(value, dict) else value
    return shown
