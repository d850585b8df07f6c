"""A batch style's LoRAs on the tiny kit: they change the pixels, weight 0 gives the unstyled ones,
they are identity and provenance, a changed weight regenerates its items only, a refused repo stops
the batch before any model loads, and the next batch's adapters replace the last ones in the loaded
pipeline without reloading it."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from assetgen_dagster.kinds.images.tiny import SECOND_STYLE, TINY_STYLE_LORA_REPO
from assetgen_dagster.models.cache import MODEL_CACHE

from ...conftest import REGISTRY, materialize_batch, metadata_of, models, parse_batch, step_failure, write_batch

LORA = f"{{repo: {TINY_STYLE_LORA_REPO}, weight: %s}}"
STYLED = f"""\
    defaults: {{seed: 5}}
    style:
      loras: [{LORA % 1.0}]
    items:
      - {{id: styled, kind: concept_art, prompt: "a rock", seed: 7}}
      - {{id: zero, kind: concept_art, prompt: "a rock", seed: 7, style: {{loras: [{LORA % 0}]}}}}
      - {{id: plain, kind: concept_art, prompt: "a rock", seed: 7, style: {{loras: []}}}}
      - {{id: icon, kind: icon, prompt: "a coin", seed: 7}}
    """


def pixels(workdir, batch_id: str, item: str, asset: str = "concept_art") -> np.ndarray:
    with Image.open(workdir / "outputs" / batch_id / asset / f"{item}.png") as image:
        return np.asarray(image.convert("RGB")).astype(int)


def provenance(workdir, batch_id: str, item: str) -> dict:
    with Image.open(workdir / "outputs" / batch_id / "concept_art" / f"{item}.png") as image:
        return json.loads(image.text["assetgen"])


def test_a_style_changes_the_pixels_and_weight_zero_gives_the_unstyled_ones(tiny_kit, workdir):
    write_batch(workdir / "prompts", "styled", STYLED)
    result, _ = materialize_batch(["concept_art", "icons"], "styled")
    assert result.success

    styled, zero, plain = (pixels(workdir, "styled", item) for item in ("styled", "zero", "plain"))
    assert np.abs(styled - plain).mean() > 2.0  # the same seed and prompt, another look
    assert np.abs(zero - plain).max() <= 1  # weight 0: the base model's own pixels, within 1 LSB
    recorded = provenance(workdir, "styled", "styled")["loras"]
    assert [(lora["repo"], lora["weight"], lora["weight_name"], lora["license"]) for lora in recorded] == \
        [(TINY_STYLE_LORA_REPO, 1.0, "pytorch_lora_weights.safetensors",
          "other: random weights built locally; test use only")]  # as its model card declares
    assert re.fullmatch(r"[0-9a-f]{40}", recorded[0]["commit"])
    assert provenance(workdir, "styled", "plain")["loras"] == []
    assert metadata_of(result, "icons")["generated"] == 1  # the batch style reaches every image kind


def test_a_changed_weight_regenerates_exactly_the_items_it_styles(tiny_kit, workdir):
    path = write_batch(workdir / "prompts", "reweigh", STYLED)
    result, instance = materialize_batch(["concept_art"], "reweigh")
    assert result.success
    folder = workdir / "outputs" / "reweigh" / "concept_art"
    before = {p.name: p.read_bytes() for p in folder.glob("*.png")}

    path.write_text(path.read_text().replace(f"loras: [{LORA % 1.0}]", f"loras: [{LORA % 0.5}]", 1))
    result, _ = materialize_batch(["concept_art"], "reweigh", instance=instance)
    metadata = metadata_of(result, "concept_art")
    assert (metadata["generated"], metadata["reused"]) == (1, 2)  # the batch style's item; the others set their own
    after = {p.name: p.read_bytes() for p in folder.glob("*.png")}
    assert after["styled.png"] != before["styled.png"]
    assert after["zero.png"] == before["zero.png"] and after["plain.png"] == before["plain.png"]
    assert provenance(workdir, "reweigh", "styled")["loras"][0]["weight"] == 0.5


def test_a_lora_off_the_allow_list_stops_its_batch_before_any_model_loads(tiny_kit, workdir):
    write_batch(workdir / "prompts", "evil", """\
        style:
          loras: [{repo: someone/unreviewed-lora, weight: 1.0}]
        items:
          - {id: rock, kind: concept_art, prompt: "a rock"}
        """)
    MODEL_CACHE.clear()
    result, instance = materialize_batch(["concept_art"], "evil")
    assert not result.success
    message = step_failure(result)
    assert "evil.yaml" in message and "item 'rock'" in message and "style (the batch's).loras[0].repo" in message
    assert "someone/unreviewed-lora is not on the model allow-list" in message
    assert MODEL_CACHE.keys() == []  # refused while planning: no model was loaded
    assert not (workdir / "outputs" / "evil" / "concept_art").exists() or \
        not list((workdir / "outputs" / "evil" / "concept_art").glob("*.png"))
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []  # bad input is not retried


@pytest.mark.parametrize(("lora", "field", "problem"), [
    (f"{{repo: {TINY_STYLE_LORA_REPO}, weight_name: lora.bin}}", "weight_name", "should match pattern"),
    (f"{{repo: {TINY_STYLE_LORA_REPO}, weight: 3}}", "weight", "less than or equal to 2"),
    ("{repo: ../etc, weight: 1}", "repo", "should match pattern"),
])
def test_a_bad_lora_entry_is_refused_when_the_batch_is_read(lora, field, problem):
    from assetgen_dagster.batches import BatchError

    with pytest.raises(BatchError) as refused:
        parse_batch(f"items:\n  - {{id: a, kind: concept_art, prompt: x, style: {{loras: [{lora}]}}}}\n", "bad.yaml")
    text = str(refused.value)
    assert "bad.yaml" in text and "a" in text and field in text and problem in text


def test_the_next_batchs_adapters_replace_the_last_ones_without_reloading_the_pipeline(tiny_kit, workdir):
    write_batch(workdir / "prompts", "first", f"""\
        style: {{loras: [{LORA % 1.0}]}}
        items: [{{id: rock, kind: concept_art, prompt: "a rock", seed: 3}}]
        """)
    write_batch(workdir / "prompts", "second", f"""\
        style: {{loras: [{{repo: {TINY_STYLE_LORA_REPO}, weight_name: {SECOND_STYLE}}}]}}
        items: [{{id: rock, kind: concept_art, prompt: "a rock", seed: 3}}]
        """)
    first, instance = materialize_batch(["concept_art"], "first")
    second, _ = materialize_batch(["concept_art"], "second", instance=instance)
    assert first.success and second.success
    assert metadata_of(second, "concept_art")["models"]["concept_art"]["cache_state"] == "hot"  # not reloaded
    assert np.abs(pixels(workdir, "first", "rock") - pixels(workdir, "second", "rock")).mean() > 2.0

    with models().use("concept_art") as model:
        adapters = model.pipeline.get_list_adapters()
    assert [name for names in adapters.values() for name in names] == \
        [f"{re.sub('[^A-Za-z0-9_]', '_', TINY_STYLE_LORA_REPO)}_{provenance(workdir, 'second', 'rock')['loras'][0]['commit'][:12]}_sketchy_safetensors"]


def test_the_style_section_is_declared_once_for_every_image_kind():
    batch = parse_batch(f"style: {{loras: [{LORA % 0.7}]}}\nitems:\n  - {{id: a, kind: sprite, prompt: x}}\n")
    assert batch.style.loras[0].weight == 0.7
    assert REGISTRY.schema.references(batch) == []
