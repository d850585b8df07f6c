"""Placeholders, Yarn files and the text kinds' checks, without a model."""

import re

import pytest

from assetgen_dagster.kinds.dialogue import yarn
from assetgen_dagster.kinds.text.placeholders import placeholders, restore, to_model, translation_pattern


def test_placeholders_are_found_in_order():
    text = "Hi {player}, %s has %d [b]gold[/b]!\\nNext\nline"
    assert placeholders(text) == ["{player}", "%s", "%d", "[b]", "[/b]", "\\n", "\n"]


def test_the_translation_pattern_demands_every_placeholder_once_in_order():
    pattern = re.compile(translation_pattern("Welcome, {player}! You have %d coins.", 64))
    assert pattern.fullmatch("Bienvenue, {player} ! Tu as %d pièces.")
    assert not pattern.fullmatch("Bienvenue ! Tu as %d pièces.")  # lost one
    assert not pattern.fullmatch("%d pièces, {player}")  # reordered
    assert not pattern.fullmatch("Salut {player} {enemy} %d")  # invented one
    assert not re.fullmatch(translation_pattern("Plain", 32), "")  # never empty


def test_line_breaks_travel_as_escapes_and_come_back():
    source = "Press [b]E[/b].\nPress Q."
    modelled = to_model(source)
    assert "\n" not in modelled and placeholders(modelled) == ["[b]", "[/b]", "\\n"]
    assert restore("Appuie [b]E[/b].\\nAppuie Q.", source) == "Appuie [b]E[/b].\nAppuie Q."


def test_yarn_round_trip_escapes_what_yarn_would_read_as_markup():
    lines = [{"speaker": "Smith", "text": "Use #3 {ore} <tongs> [b]now[/b] // or not \\ ok", "id": "forge_01"},
             {"speaker": "Player", "text": "Fine.", "id": "forge_02"}]
    text = yarn.render("forge", lines)
    assert text.startswith("title: forge\n---\n") and text.endswith("===\n")
    assert "\\#3 \\{ore\\} \\<tongs\\> \\[b\\]now\\[\\/b\\] \\/\\/ or not \\\\ ok #line:forge_01" in text
    assert yarn.parse(text) == ("forge", lines)


@pytest.mark.parametrize("broken, problem", [
    ("title: x\n---\nSmith: hi\n===\n", "line 3"),  # no line id
    ("title: x\n---\nSmith: a # b #line:x_1\n===\n", "line 3"),  # unescaped hashtag
    ("title: x\n---\nSmith: a #line:x_1\nSmith: b #line:x_1\n===\n", "used twice"),
    ("title: x\n---\nSmith: a #line:x_1\n", "not closed"),
    ("title: 1x\n---\n===\n", "identifier"),
])
def test_yarn_parse_names_what_is_wrong(broken, problem):
    with pytest.raises(ValueError, match=problem):
        yarn.parse(broken)


def test_node_titles_and_line_ids_are_identifiers():
    assert yarn.identifier("gate-guard") == "gate_guard"
    assert yarn.identifier("3rd_act") == "n_3rd_act"


def test_output_cut_off_at_the_token_limit_is_refused_as_a_schema_failure(tmp_path):
    """A record the model did not finish is refused (nothing written), recorded against schema_valid."""
    from assetgen_dagster.engine import ItemOutput, ItemRejected
    from assetgen_dagster.kinds.dialogue import Dialogue
    from assetgen_dagster.kinds.item_text import ItemText
    from assetgen_dagster.kinds.text.constrained import Constrained

    cut = Constrained('{"name": "Rusty bl', tokens=96, seconds=0.1, constraint_seconds=0.01)
    out = ItemOutput(tmp_path, "sword", {})
    with pytest.raises(ItemRejected) as refused:
        ItemText().write(out, None, None, cut)
    assert refused.value.check == "schema_valid" and "96 tokens" in refused.value.reason
    lines = [{"speaker": "Smith", "text": "Well met."}, {"speaker": "Player", "text": None}]
    with pytest.raises(ItemRejected) as refused:
        Dialogue().write(out, None, None, (lines, [cut]))
    assert refused.value.check == "schema_valid" and "lines [2]" in refused.value.reason
    assert not list(tmp_path.iterdir())


def test_the_item_text_checks_fail_a_bad_record():
    from assetgen_dagster.kinds.item_text import ItemText, ItemTextItem
    from assetgen_dagster.kinds.text import TextArtifact

    item = ItemTextItem.model_validate({"id": "sword", "kind": "item_text", "prompt": "a rusty sword",
                                        "max_chars": {"name": 12}})
    checks = {check.name: check.check for check in ItemText.checks}
    good = TextArtifact({"name": "Rusty Sword", "description": "Old.", "flavor": "It bites."})
    assert all(check(item, good).passed for check in checks.values())
    assert "flavor" in checks["schema_valid"](item, TextArtifact({"name": "A", "description": "B"})).message
    assert checks["schema_valid"](item, TextArtifact({**good.record, "flavor": 3})).passed is False
    assert checks["within_budget"](item, TextArtifact({**good.record, "name": "The Rustiest Sword"})).message == \
        "over budget: name 18/12"
    assert checks["no_empty_strings"](item, TextArtifact({**good.record, "flavor": "  "})).message == "empty: flavor"


def test_the_dialogue_checks_fail_a_bad_conversation(tmp_path):
    from assetgen_dagster.kinds.dialogue import Dialogue, DialogueItem
    from assetgen_dagster.kinds.text import TextArtifact

    item = DialogueItem.model_validate({"id": "forge", "kind": "dialogue", "prompt": "haggling", "lines": 2,
                                        "max_chars": 20, "speakers": [{"id": "Smith", "persona": "gruff"},
                                                                      {"id": "Player", "persona": "curious"}]})
    checks = {check.name: check.check for check in Dialogue.checks}
    lines = [{"speaker": "Smith", "text": "What do you need?", "id": "forge_01"},
             {"speaker": "Player", "text": "A blade.", "id": "forge_02"}]

    def artifact(lines, yarn_lines=None):
        path = tmp_path / "forge.yarn"
        path.write_text(yarn.render("forge", yarn_lines if yarn_lines is not None else lines))
        return TextArtifact({"title": "forge", "lines": lines}, yarn=path)

    assert all(check(item, artifact(lines)).passed for check in checks.values())
    stranger = [lines[0], {**lines[1], "speaker": "Ghost"}]
    assert "speaker 'Ghost' is not one of the item's" in checks["schema_valid"](item, artifact(stranger)).message
    assert "1 lines, asked for 2" in checks["schema_valid"](item, artifact(lines[:1])).message
    long = [lines[0], {**lines[1], "text": "A blade, and a very long story."}]
    assert checks["within_budget"](item, artifact(long)).message == "over budget: forge_02 31/20"
    assert checks["no_empty_strings"](item, artifact([lines[0], {**lines[1], "text": " "}])).message == "empty: forge_02"
    echo = [lines[0], {**lines[1], "text": "what do  you NEED?"}]
    assert checks["unique_lines"](item, artifact(echo)).message == "forge_02 repeats forge_01"
    differs = checks["yarn_parses"](item, artifact(lines, yarn_lines=[lines[0], {**lines[1], "text": "A shield."}]))
    assert differs.message == "forge.yarn does not say what the JSON says"


def test_a_translation_that_drops_a_placeholder_fails():
    from assetgen_dagster.kinds.strings.localization import Localization
    from assetgen_dagster.kinds.text import TextArtifact

    checks = {check.name: check.check for check in Localization.checks}
    record = {"en": {"greet": "Hi {player}, %d coins"}, "fr": {"greet": "Salut {player}, %d pièces"}}
    assert checks["placeholders_preserved"](None, TextArtifact(record)).passed
    lost = {**record, "de": {"greet": "Hallo, %d Münzen"}}
    verdict = checks["placeholders_preserved"](None, TextArtifact(lost))
    assert not verdict.passed and verdict.message == "placeholders lost or changed in de:greet"
    assert checks["no_empty_strings"](None, TextArtifact({**record, "fr": {"greet": ""}})).message == "empty: fr:greet"
