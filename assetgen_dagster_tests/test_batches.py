import os

import pytest

from assetgen_dagster.batches import (
    MAX_FILE_BYTES,
    BatchError,
    batch_hash,
    batch_id_for,
    batch_path,
    item_params,
    item_seed,
)

from .conftest import load_batch, parse_batch, write_batch

VALID = """
defaults: {seed: 7, steps: 4, width: 512, height: 512}
items:
  - id: mossy_rock
    kind: concept_art
    prompt: "a mossy boulder"
    negative_prompt: "blurry"
  - id: crate-01
    kind: mesh
    prompt: "a wooden crate"
    seed: 42
"""


def error_of(text: str) -> str:
    with pytest.raises(BatchError) as info:
        parse_batch(text, "data/prompts/b.yaml")
    return str(info.value)


def item(**fields) -> str:
    base = {"id": "rock", "kind": "concept_art", "prompt": "a rock"}
    base.update(fields)
    body = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in base.items())
    return f"items:\n  - {{{body}}}\n"


def test_valid_batch_parses_with_defaults_and_kinds():
    batch = parse_batch(VALID)
    assert [i.id for i in batch.items] == ["mossy_rock", "crate-01"]
    assert [i.kind for i in batch.items] == ["concept_art", "mesh"]
    assert item_params(batch, batch.items[0]) == {
        "steps": 4, "width": 512, "height": 512, "negative_prompt": "blurry"
    }
    # mesh items have no image size
    assert item_params(batch, batch.items[1]) == {"steps": 4}


def test_unknown_top_level_key():
    assert "field 'colour': unknown key" in error_of("colour: red\n" + item())


def test_unknown_item_key_names_item_and_field():
    message = error_of(item(colour="red"))
    assert message.startswith("data/prompts/b.yaml: item 'rock' (items[0]), field 'colour'")
    assert "unknown key for kind 'concept_art'" in message


def test_kind_specific_keys():
    message = error_of(item(kind="mesh", width=64))
    assert "item 'rock' (items[0]), field 'width': unknown key for kind 'mesh'" in message


def test_unknown_kind():
    message = error_of(item(kind="sound"))
    assert "item 'rock' (items[0]), field 'kind'" in message and "'sound'" in message


def test_duplicate_ids():
    text = "items:\n  - {id: a, kind: concept_art, prompt: x}\n  - {id: a, kind: icon, prompt: y}\n"
    assert "item 'a' (items[1]), field 'id': duplicate id 'a'" in error_of(text)


@pytest.mark.parametrize("bad_id", ["Rock", "../etc", "a b", "", "x" * 65, "é"])
def test_bad_ids(bad_id):
    assert "field 'id': must match [a-z0-9_-]{1,64}" in error_of(item(id=bad_id))


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt(prompt):
    assert "field 'prompt'" in error_of(item(prompt=prompt))


def test_prompt_too_long():
    assert "field 'prompt'" in error_of(item(prompt="x" * 2001))


@pytest.mark.parametrize(
    "field,value",
    [("steps", 0), ("steps", 151), ("width", 32), ("width", 4096), ("height", 100), ("guidance", -1),
     ("guidance", 31), ("seed", -1), ("seed", 2**32)],
)
def test_out_of_range_values(field, value):
    assert f"item 'rock' (items[0]), field '{field}'" in error_of(item(**{field: value}))


def test_wrong_types_are_not_coerced():
    assert "field 'steps': Input should be a valid integer" in error_of(item(steps="4"))


def test_defaults_are_validated():
    assert "field 'defaults.steps'" in error_of("defaults: {steps: 0}\n" + item())


def test_no_items_and_not_a_mapping():
    assert "field 'items'" in error_of("items: []\n")
    assert "top level must be a mapping" in error_of("- just\n- a list\n")


def test_yaml_errors_and_duplicate_keys():
    assert "invalid YAML" in error_of("items: [\n")
    assert "duplicate key 'prompt'" in error_of("items:\n  - {id: a, kind: icon, prompt: x, prompt: y}\n")


@pytest.mark.parametrize(("text", "plain"), [
    ('items:\n  - {id: a, kind: icon, prompt: "x"\n  - id: b\n',
     "at line 3, column 3: expected ',' or '}': a '{' mapping is not closed (the '{' mapping that starts at "
     "line 2, column 5)"),
    ("items:\n  - id: a\n    kind: icon\n   prompt: x\n",
     "at line 4, column 4: expected a '- ' entry lined up with the ones above: check the indentation"),
    ('items:\n  - id: a\n    prompt: "unclosed\n',
     "at line 4, column 1: the file ends inside a quoted text: a closing quote is missing (the quoted text "
     "that starts at line 3, column 13)"),
    ("items:\n\t- id: a\n", "at line 2, column 1: a tab: YAML indents with spaces only"),
    ("items:\n  - id: a\n    prompt: a: b\n",
     "at line 3, column 14: a ': ' inside an unquoted value: put the value in quotes"),
    ("items: !!python/object/apply:os.system [x]\n", "at line 1, column 8: a '!!' tag: batch files hold plain values only"),
])
def test_a_yaml_syntax_error_names_line_column_and_what_was_expected_in_plain_words(text, plain):
    message = error_of(text)
    assert f"invalid YAML {plain}" in message, message
    assert "<unicode string>" not in message and "while parsing" not in message


def test_yaml_is_safe_loaded():
    assert "invalid YAML" in error_of("items: !!python/object/apply:os.system ['true']\n")


def test_file_errors(tmp_path):
    bad_name = write_batch(tmp_path, "Bad Name", VALID)
    with pytest.raises(BatchError, match="must match"):
        load_batch(bad_name)
    binary = tmp_path / "junk.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BatchError, match=r"junk.yaml: is not UTF-8"):
        load_batch(binary)
    huge = tmp_path / "huge.yaml"
    huge.write_text("#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(BatchError, match="limit"):
        load_batch(huge)
    outside = tmp_path / "outside.txt"
    outside.write_text(VALID)
    (tmp_path / "prompts").mkdir()
    link = tmp_path / "prompts" / "linked.yaml"
    os.symlink(outside, link)
    with pytest.raises(BatchError, match="outside the prompts directory"):
        load_batch(link)


def test_batch_id_rules(tmp_path):
    assert batch_id_for(tmp_path / "forest_level.yaml") == "forest_level"
    with pytest.raises(BatchError):
        batch_id_for(tmp_path / "forest.yml")
    with pytest.raises(BatchError):
        batch_path(tmp_path, "../secrets")


def test_hash_ignores_formatting_but_not_content():
    base = parse_batch(VALID)
    reformatted = parse_batch("# a comment\n" + VALID.replace('"a mossy boulder"', "a mossy boulder"))
    assert batch_hash(base) == batch_hash(reformatted)
    edited = parse_batch(VALID.replace("a wooden crate", "a metal crate"))
    assert batch_hash(edited) != batch_hash(base)


def test_seeds_are_explicit_or_derived_deterministically():
    batch = parse_batch(VALID)
    assert item_seed(batch, batch.items[1]) == 42
    derived = item_seed(batch, batch.items[0])
    assert derived == item_seed(parse_batch(VALID), parse_batch(VALID).items[0])
    other_default = parse_batch(VALID.replace("seed: 7", "seed: 8"))
    assert item_seed(other_default, other_default.items[0]) != derived
    assert 0 <= derived < 2**32
