import json
from dataclasses import replace
from pathlib import Path

import pytest

from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.models.downloads import fetch_snapshot, resolve_commit, select_files, weight_variant
from assetgen_dagster.models.errors import ModelNotCachedError, UnsupportedModelError
from assetgen_dagster.tiny import snapshot_commit

from ..conftest import REGISTRY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "repos"


def select(fixture: str, library: str, dtype: str):
    recorded = json.loads((FIXTURES / f"{fixture}.json").read_text())
    return select_files(recorded["files"], library, dtype, lambda name: recorded["json"][name])


def test_weight_variant_names():
    assert weight_variant("unet/diffusion_pytorch_model.fp16.safetensors") == ("weights", "fp16")
    assert weight_variant("unet/diffusion_pytorch_model.safetensors") == ("weights", None)
    assert weight_variant("t/model.fp16-00001-of-00002.safetensors") == ("weights", "fp16")
    assert weight_variant("t/model-00001-of-00002.safetensors") == ("weights", None)
    assert weight_variant("t/model.safetensors.index.json") == ("index", None)
    assert weight_variant("t/model.safetensors.index.fp16.json") == ("index", "fp16")
    assert weight_variant("t/config.json") is None and weight_variant("t/model.bin") is None


def test_fp16_variant_chosen_when_present_and_extras_skipped():
    selection = select("sd_turbo_like", "diffusers", "float16")
    assert selection.variant == "fp16"
    assert selection.files == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.fp16.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]  # no safety_checker, feature_extractor, root checkpoint, .bin or .onnx


def test_plain_weights_for_float32_and_when_no_fp16_exists():
    assert select("sd_turbo_like", "diffusers", "float32").variant is None
    selection = select("fp32_only", "diffusers", "float16")
    assert selection.variant is None
    assert "unet/diffusion_pytorch_model.safetensors" in selection.files


def test_shards_are_expanded_from_the_index():
    selection = select("sharded", "diffusers", "float16")
    assert selection.variant == "fp16"
    weights = [f for f in selection.files if "safetensors" in f]
    assert weights == [
        "text_encoder_2/model.fp16-00001-of-00002.safetensors",
        "text_encoder_2/model.fp16-00002-of-00002.safetensors",
        "text_encoder_2/model.safetensors.index.fp16.json",
        "transformer/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.fp16.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert "tokenizer_2/spiece.model" in selection.files


def test_missing_shard_is_an_error():
    recorded = json.loads((FIXTURES / "sharded.json").read_text())
    files = [f for f in recorded["files"] if f != "transformer/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"]
    with pytest.raises(UnsupportedModelError, match="references shards missing"):
        select_files(files, "diffusers", "float16", lambda name: recorded["json"][name])


def test_pickle_only_component_is_refused():
    with pytest.raises(UnsupportedModelError, match="component 'unet' only has pickle weights"):
        select("pickle_only", "diffusers", "float16")


def test_transformers_task_takes_root_safetensors_and_configs():
    selection = select("depth_transformers", "transformers", "float32")
    assert selection.files == ["config.json", "model.safetensors", "preprocessor_config.json"]


def test_offline_revision_resolution_through_refs(tiny_kit):
    spec = REGISTRY.roles.catalog("tiny").spec("concept_art")
    commit = resolve_commit(spec)
    assert commit == snapshot_commit(TEXT_TO_IMAGE_REPO)  # "main" -> refs/main -> commit
    snapshot = fetch_snapshot(spec, commit, "float32")
    assert snapshot.commit == commit and snapshot.path.name == commit
    assert snapshot.cache_state == "warm" and snapshot.variant is None
    assert resolve_commit(replace(spec, revision=commit)) == commit  # a commit is its own resolution
    with pytest.raises(ModelNotCachedError, match="assetgen-dagster models pull"):
        resolve_commit(replace(spec, revision="no-such-branch"))
    with pytest.raises(ModelNotCachedError, match="tiny-kit"):
        fetch_snapshot(spec, "c" * 40, "float32")


@pytest.mark.parametrize(("card", "says"), [
    ("---\nlicense: apache-2.0\n---\nAn adapter.\n", "apache-2.0"),
    ("---\nlicense: other\nlicense_name: studio-internal\n---\n", "other: studio-internal"),
    ("---\ntags: [lora]\n---\nNo license here.\n", "unknown (the model card names none)"),
    (None, "unknown (no model card)"),
])
def test_an_adapter_license_is_what_its_model_card_declares(tmp_path, monkeypatch, card, says):
    from assetgen_dagster.models import downloads

    def fetch(repo_id, commit, filename):
        assert filename == "README.md"
        if card is None:
            raise ModelNotCachedError(f"{repo_id}: {filename} is not in the cache")
        (tmp_path / filename).write_text(card)
        return tmp_path / filename

    monkeypatch.setattr(downloads, "fetch_file", fetch)
    assert downloads.card_license("studio/style", "0" * 40) == says
