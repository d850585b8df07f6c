"""Placeholders and Yarn files, without a model."""

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
