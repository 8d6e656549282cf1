"""The zh-Hans catalogue is complete: every string of the code has a translation."""

from __future__ import annotations

import re
import shutil
import subprocess
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


# The compiled catalogues are committed (a plain `pip install` and `manage.py` serve Chinese
# without gettext or `make`), so each must say what its .po says. Other branches edit the .po
# in parallel: after a merge, regenerate and commit the .mo with this command.
COMPILE = "python manage.py compilemessages --ignore=.venv"


def catalogue_entries(catalogue) -> dict:
    """(context, msgid) -> translation(s), for the translated entries, the header aside."""
    found = {}
    for entry in catalogue:
        # What msgfmt leaves out: fuzzy, obsolete and untranslated entries (MOEntry has none).
        if "fuzzy" in entry.flags or getattr(entry, "obsolete", False):
            continue
        if entry.msgid and (entry.msgstr or any(entry.msgstr_plural.values())):
            text = tuple(sorted(entry.msgstr_plural.items())) if entry.msgid_plural else entry.msgstr
            found[(entry.msgctxt, entry.msgid)] = text
    return found


def committed(path: Path) -> bytes | None:
    """The file as committed at HEAD, or None outside a git checkout (an unpacked release)."""
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        return None
    result = subprocess.run(
        ["git", "show", f"HEAD:{path.relative_to(ROOT).as_posix()}"], cwd=ROOT, capture_output=True
    )
    return result.stdout if result.returncode == 0 else b""


def mismatch(po_entries: dict, mo_entries: dict) -> str:
    wrong = sorted({key for key in po_entries.keys() | mo_entries.keys() if po_entries.get(key) != mo_entries.get(key)})
    return f"{len(wrong)} msgid(s) differ, e.g. {[msgid for _, msgid in wrong[:3]]}"


@pytest.mark.parametrize("po", sorted(ROOT.glob("locale/*/LC_MESSAGES/django.po")), ids=lambda p: p.parts[-3])
def test_each_committed_mo_says_what_its_po_says(po, tmp_path):
    mo = po.with_suffix(".mo")
    fix = f"regenerate it with `{COMPILE}` and commit {mo.relative_to(ROOT)}"
    assert mo.is_file(), f"{mo.relative_to(ROOT)} is missing: {fix}"
    po_entries = catalogue_entries(polib.pofile(str(po)))
    mo_entries = catalogue_entries(polib.mofile(str(mo)))
    assert po_entries == mo_entries, f"{mo.relative_to(ROOT)} is stale ({mismatch(po_entries, mo_entries)}): {fix}"
    # The working copy may have been rebuilt by `make` since: what a clone gets is HEAD's pair.
    po_blob, mo_blob = committed(po), committed(mo)
    if po_blob is None:
        return
    assert mo_blob, f"{mo.relative_to(ROOT)} is not committed: {fix}"
    (tmp_path / "head.po").write_bytes(po_blob)
    (tmp_path / "head.mo").write_bytes(mo_blob)
    po_entries = catalogue_entries(polib.pofile(str(tmp_path / "head.po")))
    mo_entries = catalogue_entries(polib.mofile(str(tmp_path / "head.mo")))
    assert po_entries == mo_entries, (
        f"the committed {mo.relative_to(ROOT)} is stale against the committed .po "
        f"({mismatch(po_entries, mo_entries)}): {fix}"
    )
