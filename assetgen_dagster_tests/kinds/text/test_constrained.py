"""Constrained decoding on the tiny random-weight LM: gibberish, but always valid JSON within the
schema's budgets, and translations that keep every placeholder; the same seed gives the same text."""

import json
import re

import pytest

from assetgen_dagster.kinds.item_text import record_schema
from assetgen_dagster.kinds.text import tidy
from assetgen_dagster.kinds.text.placeholders import placeholders, translation_pattern


@pytest.fixture(scope="module")
def llm(tiny_kit):
    from ...conftest import models

    with models().use("item_text") as model:
        yield model.pipeline


def run(pipe, seed, **constraint):
    from assetgen_dagster.kinds.text.constrained import generate

    messages = [{"role": "user", "content": "Write something."}]
    return generate(pipe, messages, seed, max_new_tokens=2 * 150 + 64, temperature=1.0, top_p=1.0, **constraint)


def test_every_seed_gives_schema_valid_json_within_budgets(llm):
    budgets = {"name": 12, "description": 60, "flavor": 30}
    for seed in range(12):
        result = run(llm, seed, schema=record_schema(budgets))
        record = json.loads(result.text)  # parses: the constraint held
        assert set(record) == set(budgets)
        stored = {name: tidy(text) for name, text in record.items()}  # what item_text writes
        assert all(len(stored[name]) <= budgets[name] for name in budgets), record
        assert 0 < result.constraint_seconds < result.seconds


def test_translations_keep_placeholders_in_order(llm):
    source = "Hi {player}, you found %d [b]gold[/b]!"
    for seed in range(8):
        text = run(llm, seed, pattern=translation_pattern(source, 48)).text
        assert placeholders(text) == placeholders(source), text


def test_the_same_seed_gives_the_same_text(llm):
    schema = record_schema({"name": 12, "description": 40, "flavor": 20})
    assert run(llm, 5, schema=schema).text == run(llm, 5, schema=schema).text
    assert run(llm, 5, schema=schema).text != run(llm, 6, schema=schema).text


def test_without_the_constraint_the_tiny_model_writes_no_json(llm):
    """What the constraint is for: the same model, unconstrained, does not produce the record."""
    import torch

    tokenizer = llm.tokenizer
    ids = tokenizer(tokenizer.apply_chat_template([{"role": "user", "content": "x"}], add_generation_prompt=True,
                                                  tokenize=False), return_tensors="pt").input_ids
    torch.manual_seed(0)
    out = llm.model.generate(ids, max_new_tokens=60, do_sample=True, top_k=0, pad_token_id=tokenizer.pad_token_id)
    text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    with pytest.raises(ValueError):
        json.loads(text)
    assert not re.fullmatch(translation_pattern("Hi {player}", 40), text)
