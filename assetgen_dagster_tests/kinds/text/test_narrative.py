"""The narrative kinds end to end on the tiny LM: the demo's batch and a held-out one, every output
valid, the translation table complete with placeholders intact, reuse and re-translation."""

import csv
import json
import shutil

import polib
import pytest

from assetgen_dagster.kinds.dialogue import yarn
from assetgen_dagster.kinds.item_text import schema_problems
from assetgen_dagster.kinds.text.placeholders import placeholders

from ...clients import msgfmt_warnings
from ...conftest import (
    PROJECT_ROOT,
    checks_of,
    copy_demo_batch,
    materialize_batch,
    metadata_of,
    shared_workdir,
    write_batch,
)

# CLDR's plural categories (Babel): French, Spanish and Portuguese have a form for millions.
NPLURALS = {"fr": 3, "de": 2, "ja": 1, "es": 3, "pt_BR": 3}

ASSETS = ["item_text", "dialogue", "strings", "localization", "dialogue_voice", "voice_transcripts", "asset_pack"]

HELD_OUT = """\
    locales: [es, pt_BR]
    items:
      - {id: ale, kind: item_text, prompt: "a mug of dwarven ale", seed: 3, max_chars: {name: 20, description: 90, flavor: 40}}
      - id: tavern
        kind: dialogue
        prompt: "two travellers argue about the road north"
        speakers: [{id: Mira, persona: cautious scout}, {id: Oskar, persona: reckless merchant}]
        lines: 5
        max_chars: 90
      - id: barkeep
        kind: dialogue
        prompt: "the barkeep"
        speakers: [{id: Barkeep, persona: "tired, kind"}]
        barks: ["a fight breaks out", "closing time"]
      - id: menu
        kind: strings
        strings: {buy: "Buy %s for %d gold?", quit: "[b]Quit[/b] the game", who: "{npc} waves at {player}."}
    """


def run(batch_id, names=ASSETS):
    result, _ = materialize_batch(names, batch_id)
    assert result.success
    return result


@pytest.fixture
def demo(demo_runs, workdir):
    """The demo batch in this test's own folders (for a test that edits it): its file, and a copy of
    what the session's demo run made of it, which a run here must find current."""
    copy_demo_batch("narrative_demo", workdir / "prompts")
    outputs, results = demo_runs
    shutil.copytree(outputs / "narrative_demo", workdir / "outputs" / "narrative_demo", symlinks=True)
    return results["narrative_demo"], workdir / "outputs" / "narrative_demo"


@pytest.fixture(scope="module")
def shared_demo(demo_runs):
    """The demo batch as the session's demo run made it (read only)."""
    outputs, results = demo_runs
    return results["narrative_demo"], outputs / "narrative_demo"


def test_the_demo_batch_passes_every_check_and_writes_valid_files(shared_demo):
    from ...conftest import load_batch

    result, out = shared_demo
    evaluations = checks_of(result)
    assert {check for _, check in evaluations} >= {"schema_valid", "within_budget", "placeholders_preserved",
                                                    "no_empty_strings", "unique_lines", "yarn_parses"}
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items() if not e.passed}

    batch = load_batch(PROJECT_ROOT / "data" / "prompts" / "narrative_demo.yaml")
    expected_rows = 0
    for item in batch.items:
        if item.kind == "item_text":
            record = json.loads((out / "item_text" / f"{item.id}.json").read_text())
            record.pop("_provenance")
            assert schema_problems(record) == []
            assert all(0 < len(record[name]) <= limit for name, limit in dict(item.max_chars).items())
            expected_rows += 3
        elif item.kind == "dialogue":
            record = json.loads((out / "dialogue" / f"{item.id}.json").read_text())
            node, lines = yarn.parse((out / "dialogue" / f"{item.id}.yarn").read_text())
            assert node == record["title"] and [line["id"] for line in lines] == [line["id"] for line in record["lines"]]
            assert len(lines) == (len(item.barks) if item.barks else item.lines)
            assert {line["speaker"] for line in lines} <= {speaker.id for speaker in item.speakers}
            expected_rows += len(lines)
        else:
            expected_rows += len(item.strings)
    assert_translation_table(out / "localization", batch.locales, expected_rows)
    metadata = metadata_of(result, "localization")
    assert metadata["generated"] == len(batch.items)

    pack = out / "asset_pack"
    assert (pack / "localization" / "translations.csv").is_file() and (pack / "localization" / "translations.ja.po").is_file()
    assert (pack / "text" / "dialogue" / "smith_greeting.yarn").is_file() and (pack / "text" / "items" / "rusty_sword.json").is_file()


def test_every_translatable_item_has_its_translations_in_the_pack_and_on_the_page(demo):
    """Item texts and dialogue, not only source strings, ship their per-item translation records;
    the pack's `complete` check notices one that is missing."""
    result, out = demo
    pack = json.loads((out / "asset_pack" / "manifest.json").read_text())
    translated = {item["id"]: [f["path"] for f in item["files"] if f["path"].startswith("localization/")]
                  for item in pack["items"]}
    assert translated == {"rusty_sword": ["localization/items/rusty_sword.json"],
                          "healing_herb": ["localization/items/healing_herb.json"],
                          "smith_greeting": ["localization/items/smith_greeting.json"],
                          "gate_guard": ["localization/items/gate_guard.json"],
                          "hud": ["localization/items/hud.json"]}
    assert all("localization" in item["provenance"] for item in pack["items"])
    page = (out / "asset_pack" / "index.html").read_text()
    assert page.count('<table class="translations">') == 5  # every text item's translations shown
    assert "<th>ja</th>" in page and "rusty_sword.name" in page

    manifest_path = out / "localization" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["items"]["smith_greeting"]  # a translation record lost
    manifest_path.write_text(json.dumps(manifest))
    again, _ = materialize_batch(["asset_pack"], "narrative_demo")
    [complete] = [e for e in again.get_asset_check_evaluations() if e.check_name == "complete"]
    assert not complete.passed and "smith_greeting: localization: no localization output" in complete.description


def assert_translation_table(folder, locales, rows):
    data = (folder / "translations.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")  # Godot: UTF-8 without BOM
    table = list(csv.reader(data.decode("utf-8").splitlines(keepends=True)))
    header, body = table[0], table[1:]
    assert header == ["keys", "en", *locales]
    assert len(body) == rows and len({row[0] for row in body}) == rows  # one row per string
    for row in body:
        assert len(row) == len(header)
        for translated in row[2:]:
            assert translated.strip() and placeholders(translated) == placeholders(row[1]), row
    for locale in locales:
        path = folder / f"translations.{locale}.po"
        assert msgfmt_warnings(path) == [], path  # gettext itself accepts every header and entry
        po = polib.pofile(str(path))
        assert po.metadata["Language"] == locale and len(po) == rows
        assert po.metadata["Plural-Forms"].startswith(f"nplurals={NPLURALS[locale]};"), po.metadata
        assert {entry.msgctxt: entry.msgid for entry in po} == {row[0]: row[1] for row in body}


def test_a_held_out_batch_runs_the_same_way(tiny_kit, workdir):
    write_batch(workdir / "prompts", "tavern", HELD_OUT)
    result = run("tavern")
    evaluations = checks_of(result)
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items() if not e.passed}
    assert_translation_table(workdir / "outputs" / "tavern" / "localization", ["es", "pt_BR"], 3 + 5 + 2 + 3)
    who = json.loads((workdir / "outputs" / "tavern" / "localization" / "menu.json").read_text())
    assert all(placeholders(who[locale]["menu.who"]) == ["{npc}", "{player}"] for locale in ("es", "pt_BR"))


def test_a_rerun_reuses_and_a_new_locale_retranslates_only(demo, workdir):
    _, out = demo
    again = run("narrative_demo")
    for name in ("item_text", "dialogue", "strings", "localization"):
        assert metadata_of(again, name)["generated"] == 0, name
    source = (workdir / "prompts" / "narrative_demo.yaml")
    source.write_text(source.read_text().replace("locales: [fr, de, ja]", "locales: [fr, de, ja, es]"))
    edited = run("narrative_demo")
    for name in ("item_text", "dialogue", "strings"):
        assert metadata_of(edited, name)["generated"] == 0, name
    assert metadata_of(edited, "localization")["generated"] == 5
    header = (out / "localization" / "translations.csv").read_text().splitlines()[0]
    assert header == "keys,en,fr,de,ja,es"


def test_same_seed_same_text(tiny_kit, workdir):
    write_batch(workdir / "prompts", "one", "items:\n  - {id: ring, kind: item_text, prompt: a ring, seed: 4}\n")
    run("one", ["item_text"])
    first = (workdir / "outputs" / "one" / "item_text" / "ring.json").read_bytes()
    shutil.rmtree(workdir / "outputs" / "one")
    run("one", ["item_text"])
    assert (workdir / "outputs" / "one" / "item_text" / "ring.json").read_bytes() == first


def test_msgfmt_names_what_a_po_without_headers_lacks(tmp_path):
    """The check the tables go through fails on a .po as it was written before headers: the
    revision date, translator and team missing."""
    import polib

    po = polib.POFile(wrapwidth=0)
    po.metadata = {"Language": "fr", "Content-Type": "text/plain; charset=UTF-8", "Content-Transfer-Encoding": "8bit"}
    po.append(polib.POEntry(msgctxt="menu.quit", msgid="Quit", msgstr="Quitter"))
    bare = tmp_path / "translations.fr.po"
    bare.write_text(str(po), encoding="utf-8")
    said = "\n".join(msgfmt_warnings(bare))
    assert all(field in said for field in ("PO-Revision-Date", "Last-Translator", "Language-Team")), said


def test_a_rerun_keeps_the_po_revision_date_and_a_changed_table_moves_it(tmp_path, monkeypatch):
    import polib

    from assetgen_dagster.kinds.strings.localization import po_header, revision_date

    path = tmp_path / "translations.fr.po"
    po = polib.POFile(wrapwidth=0)
    po.append(polib.POEntry(msgctxt="menu.quit", msgid="Quit", msgstr="Quitter"))
    po.metadata = po_header("b", "fr", revised="2026-01-02 03:04+0000")
    path.write_text(str(po), encoding="utf-8")
    assert revision_date(path, po) == "2026-01-02 03:04+0000"
    po[0].msgstr = "Sortir"
    assert revision_date(path, po) != "2026-01-02 03:04+0000"
