"""The zh-Hans catalogue is complete: every string of the code has a translation."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polib
import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# What makemessages reads: the apps, the templates (tests, docs and the virtualenv are not UI).
SOURCES = ("automation", "audit", "config", "runs", "schedules", "templates")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def test_every_msgid_has_a_translation():
    catalogue = polib.pofile(str(CATALOGUE))
    untranslated = [entry.msgid for entry in catalogue if not entry.translated()]
    assert not untranslated, f"msgids without a zh-Hans translation: {untranslated}"
    assert not [entry.msgid for entry in catalogue if "fuzzy" in entry.flags]


def test_translations_keep_every_placeholder():
    for entry in polib.pofile(str(CATALOGUE)):
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(entry.msgid)), entry.msgid


def test_the_catalogue_holds_every_string_of_the_code(tmp_path, settings, monkeypatch):
    """makemessages over a copy of the sources: a string added to the code without a
    translation in the committed catalogue fails here."""
    if not shutil.which("xgettext"):
        pytest.fail("GNU gettext is missing: `make test` installs it (Debian package gettext)")
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    (tmp_path / "locale").mkdir()
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0, no_obsolete=True)
    extracted = {e.msgid for e in polib.pofile(str(tmp_path / "locale/zh_Hans/LC_MESSAGES/django.po"))}
    committed = {e.msgid for e in polib.pofile(str(CATALOGUE)) if e.translated()}
    assert not extracted - committed, (
        f"strings without a zh-Hans translation: {sorted(extracted - committed)}; run "
        "`python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=tests --no-obsolete` and translate them"
    )
