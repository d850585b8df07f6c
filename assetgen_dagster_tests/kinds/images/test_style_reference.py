"""A batch style's reference images on the tiny kit, through the tiny IP-Adapter: they change the
pixels, their content hashes, the adapter's commit and license and the scale are identity and
provenance, editing one regenerates exactly the items that use it, an unstyled call after a styled
one gets the base model's own pixels, and a reference the base model has no adapter for, or one that
is not an image in the prompts folder, is refused naming the file, the item and the field."""

import hashlib
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from assetgen_dagster.batches import BatchError
from assetgen_dagster.kinds.images import SD_TURBO, ImageParams
from assetgen_dagster.kinds.images.style import Style, resolve_reference
from assetgen_dagster.kinds.images.tiny import TINY_IP_ADAPTER_REPO

from ...conftest import REGISTRY, materialize_batch, metadata_of, parse_batch, step_failure, write_batch

BATCH = """\
    defaults: {seed: 5}
    style: {reference: refs/house.png}
    items:
      - {id: styled, kind: concept_art, prompt: "a rock", seed: 7}
      - {id: own, kind: concept_art, prompt: "a rock", seed: 7, style: {reference: [refs/other.png], scale: 1.0}}
      - {id: plain, kind: concept_art, prompt: "a rock", seed: 7, style: {}}
      - {id: coin, kind: icon, prompt: "a coin", seed: 7}
    """


def noise(path, seed: int) -> str:
    """A random RGB reference image at ``path``; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(seed).random((48, 48, 3)) * 255).astype(np.uint8)).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def png(workdir, batch_id: str, item: str, asset: str = "concept_art"):
    return workdir / "outputs" / batch_id / asset / f"{item}.png"


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def provenance(path) -> dict:
    with Image.open(path) as image:
        return json.loads(image.text["assetgen"])


@pytest.fixture
def styled(tiny_kit, workdir):
    """The batch made once in this test's folders: (its file, the reference hashes, the instance)."""
    shas = {name: noise(workdir / "prompts" / "refs" / f"{name}.png", seed) for name, seed in (("house", 1), ("other", 2))}
    path = write_batch(workdir / "prompts", "styled", BATCH)
    result, instance = materialize_batch(["concept_art", "icons"], "styled")
    assert result.success
    return path, shas, instance


def test_a_reference_changes_the_pixels_and_is_identity_and_provenance(styled, workdir):
    _, shas, _ = styled
    look = {item: pixels(png(workdir, "styled", item)) for item in ("styled", "own", "plain")}
    assert np.abs(look["styled"] - look["plain"]).mean() > 2.0  # the same seed and prompt, another look
    assert np.abs(look["own"] - look["styled"]).mean() > 2.0  # another reference (and scale), another look
    recorded = provenance(png(workdir, "styled", "styled"))["style_reference"]
    assert (recorded["adapter"], recorded["images"], recorded["scale"]) == (TINY_IP_ADAPTER_REPO,
                                                                            [["refs/house.png", shas["house"]]], 0.6)
    assert re.fullmatch(r"[0-9a-f]{40}", recorded["commit"]) and recorded["weight_name"] == "models/ip-adapter_sd15.safetensors"
    assert recorded["license"] == "other: random weights built locally; test use only"  # the adapter's model card
    assert provenance(png(workdir, "styled", "own"))["style_reference"]["images"] == [["refs/other.png", shas["other"]]]
    assert provenance(png(workdir, "styled", "plain"))["style_reference"] is None
    assert provenance(png(workdir, "styled", "coin_64", "icons"))["style_reference"]["images"][0][0] == "refs/house.png"

    # The review page shows each item's references beside it (copied next to the page, not into the pack).
    _, _, instance = styled
    assert materialize_batch(["asset_pack"], "styled", instance=instance)[0].success
    pack = workdir / "outputs" / "styled" / "asset_pack"
    page = (pack / "index.html").read_text()
    assert page.count('<div class="references">') == 3 and "refs/other.png" in page  # styled, own, coin; not plain
    shown = pack / "review" / "references" / f"{shas['house'][:16]}.png"
    assert shown.read_bytes() == (workdir / "prompts" / "refs" / "house.png").read_bytes()
    packed = json.loads((pack / "manifest.json").read_text())
    assert not any("references" in f["path"] for item in packed["items"] for f in item["files"])

    # Unstyled after styled in one process: the adapter is unloaded, the base model's own pixels come back.
    write_batch(workdir / "prompts", "bare", 'items:\n  - {id: plain, kind: concept_art, prompt: "a rock", seed: 7}\n')
    assert materialize_batch(["concept_art"], "bare")[0].success
    assert np.array_equal(pixels(png(workdir, "bare", "plain")), look["plain"])


def test_editing_a_reference_regenerates_exactly_the_items_that_use_it(styled, workdir):
    path, _, instance = styled
    prompts = workdir / "prompts"
    batch = REGISTRY.schema.load(path)
    assert REGISTRY.schema.references(batch) == ["refs/house.png", "refs/other.png"]  # what the sensor and watcher watch
    before_hash = REGISTRY.schema.content_hash(batch, prompts, "styled")
    before = {item: png(workdir, "styled", item).read_bytes() for item in ("styled", "own", "plain")}

    noise(prompts / "refs" / "house.png", 3)  # the art director replaced the batch's reference
    assert REGISTRY.schema.content_hash(batch, prompts, "styled") != before_hash  # an edit of the batch
    result, _ = materialize_batch(["concept_art", "icons"], "styled", instance=instance)
    assert (metadata_of(result, "concept_art")["generated"], metadata_of(result, "concept_art")["reused"]) == (1, 2)
    assert metadata_of(result, "icons")["generated"] == 1  # the icon follows the batch's style too
    after = {item: png(workdir, "styled", item).read_bytes() for item in ("styled", "own", "plain")}
    assert after["styled"] != before["styled"] and after["own"] == before["own"] and after["plain"] == before["plain"]

    path.write_text(path.read_text().replace("scale: 1.0", "scale: 0.3"))  # one item's own scale
    result, _ = materialize_batch(["concept_art", "icons"], "styled", instance=instance)
    assert (metadata_of(result, "concept_art")["generated"], metadata_of(result, "icons")["generated"]) == (1, 0)
    assert provenance(png(workdir, "styled", "own"))["style_reference"]["scale"] == 0.3


def test_a_reference_on_a_base_model_without_an_ip_adapter_is_refused_naming_item_role_and_model(tmp_path):
    """SD-Turbo (SD 2.1), the default image model, has no IP-Adapter: say so instead of failing in diffusers."""
    noise(tmp_path / "house.png", 1)
    item = SimpleNamespace(id="crate", style=None)
    models = SimpleNamespace(resolve=lambda role: SimpleNamespace(spec=SimpleNamespace(repo_id=SD_TURBO["repo_id"])))
    params = dict(ImageParams(**SD_TURBO["params"]))
    with pytest.raises(BatchError) as refused:
        resolve_reference(models, tmp_path / "props.yaml", item, Style(reference="house.png"), "concept_art", params)
    text = str(refused.value)
    assert "props.yaml" in text and "item 'crate'" in text and "style (the batch's).reference" in text
    assert "'concept_art' role's base model stabilityai/sd-turbo has no IP-Adapter" in text


def test_the_model_cache_counts_a_loaded_ip_adapter_and_its_image_encoder(tiny_kit, workdir):
    """The budget's accounting follows the pipeline: loading the adapter grows the cached model by its
    weights and the image encoder's; an unstyled call, which unloads them, shrinks it back."""
    from huggingface_hub import snapshot_download
    from safetensors import safe_open

    from assetgen_dagster.models.cache import MODEL_CACHE

    noise(workdir / "prompts" / "refs" / "house.png", 1)
    plain, styled = 'items:\n  - {id: rock, kind: concept_art, prompt: "a rock"}\n', "style: {reference: refs/house.png}\n"
    write_batch(workdir / "prompts", "bare", plain)
    write_batch(workdir / "prompts", "styled", styled + plain)
    result, instance = materialize_batch(["concept_art"], "bare")
    assert result.success
    unstyled = MODEL_CACHE.used_bytes("cpu")
    assert materialize_batch(["concept_art"], "styled", instance=instance)[0].success
    with_adapter = MODEL_CACHE.used_bytes("cpu")

    commit = provenance(png(workdir, "styled", "rock"))["style_reference"]["commit"]
    snapshot = snapshot_download(TINY_IP_ADAPTER_REPO, revision=commit, local_files_only=True)
    weights = 0
    for name in ("models/ip-adapter_sd15.safetensors", "models/image_encoder/model.safetensors"):
        with safe_open(f"{snapshot}/{name}", "pt") as tensors:
            weights += sum(tensors.get_tensor(key).nbytes for key in tensors.keys())  # noqa: SIM118 - not a dict
    assert with_adapter - unstyled >= weights > 0

    write_batch(workdir / "prompts", "bare", plain.replace("rock", "tree"))  # an unstyled call unloads it
    assert materialize_batch(["concept_art"], "bare", instance=instance)[0].success
    assert MODEL_CACHE.used_bytes("cpu") == unstyled


@pytest.mark.parametrize(("reference", "problem"), [
    ("/etc/passwd.png", "must be a path inside the prompts folder"),
    ("../outside.png", "must be a path inside the prompts folder"),
    ("refs/notes.txt", "must be an image (.png, .jpg, .jpeg, .webp)"),
])
def test_a_reference_outside_the_prompts_folder_or_not_an_image_is_refused_when_the_batch_is_read(reference, problem):
    with pytest.raises(BatchError) as refused:
        parse_batch(f"items:\n  - {{id: a, kind: sprite, prompt: x, style: {{reference: {reference}}}}}\n", "bad.yaml")
    text = str(refused.value)
    assert "bad.yaml" in text and "item 'a'" in text and "style.reference" in text and problem in text


def test_a_missing_or_unreadable_reference_fails_its_batch_once_naming_file_item_and_field(tiny_kit, workdir):
    (workdir / "prompts" / "refs").mkdir()
    (workdir / "prompts" / "refs" / "broken.png").write_bytes(b"not a png")
    write_batch(workdir / "prompts", "broken", """\
        items:
          - {id: gone, kind: concept_art, prompt: "a rock", style: {reference: refs/missing.png}}
          - {id: bad, kind: concept_art, prompt: "a rock", style: {reference: refs/broken.png}}
        """)
    result, _ = materialize_batch(["concept_art"], "broken")
    assert not result.success
    message = step_failure(result)
    assert "broken.yaml" in message and "item 'gone'" in message and "field 'style.reference'" in message
    assert "refs/missing.png: cannot be read" in message
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []  # bad input: no retry


@pytest.mark.parametrize(("weight", "allowed"), [
    ("models/ip-adapter_sd15.safetensors", True),
    ("sdxl_models/ip-adapter_sdxl.safetensors", True),
    ("ip-adapter.safetensors", True),
    ("../models/ip-adapter_sd15.safetensors", False),
    ("a/b/ip-adapter.safetensors", False),
    ("models/ip-adapter_sd15.bin", False),
])
def test_the_catalog_names_an_ip_adapter_file_at_the_top_or_in_one_folder_safetensors_only(weight, allowed):
    from pydantic import ValidationError

    if allowed:
        assert ImageParams(ip_adapter="h94/IP-Adapter", ip_adapter_weight=weight).ip_adapter_weight == weight
    else:
        with pytest.raises(ValidationError):
            ImageParams(ip_adapter="h94/IP-Adapter", ip_adapter_weight=weight)


def test_the_fit_check_before_a_load_counts_the_adapters_the_batch_will_load(tiny_kit, workdir):
    """A budget the base model fits but not with its style's LoRA, IP-Adapter and image encoder:
    the styled batch is refused before the load, naming the adapters; the unstyled one loads."""
    from pathlib import Path

    from huggingface_hub import snapshot_download

    from assetgen_dagster.kinds.images.tiny import LORA_WEIGHTS, TINY_STYLE_LORA_REPO, TINY_TEXT_TO_IMAGE_REPO
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.models.cache import MODEL_CACHE
    from assetgen_dagster.models.memory import estimate_weight_bytes

    def weights(repo: str, names: list[str] | None = None) -> int:
        folder = Path(snapshot_download(repo, local_files_only=True))
        files = names or [p.relative_to(folder).as_posix() for p in folder.rglob("*.safetensors")]
        return estimate_weight_bytes(folder, files, "float32")

    base = weights(TINY_TEXT_TO_IMAGE_REPO)
    adapters = weights(TINY_STYLE_LORA_REPO, [LORA_WEIGHTS]) + weights(TINY_IP_ADAPTER_REPO, [
        "models/ip-adapter_sd15.safetensors", "models/image_encoder/model.safetensors"])
    working = 1e6
    loader = ModelLoader(memory_budget_gb=(base + working + adapters / 2) / 1e9, working_memory_gb=working / 1e9)

    noise(workdir / "prompts" / "refs" / "house.png", 1)
    item = 'items:\n  - {id: rock, kind: concept_art, prompt: "a rock"}\n'
    write_batch(workdir / "prompts", "styled", f"style: {{reference: refs/house.png, loras: [{{repo: {TINY_STYLE_LORA_REPO}}}]}}\n{item}")
    write_batch(workdir / "prompts", "bare", item)
    MODEL_CACHE.clear()
    try:
        result, instance = materialize_batch(["concept_art"], "styled", models=loader)
        assert not result.success
        message = step_failure(result)
        assert f"{TINY_TEXT_TO_IMAGE_REPO} with 3 adapter file(s) needs" in message and "CPU budget" in message
        assert MODEL_CACHE.keys() == []
        assert materialize_batch(["concept_art"], "bare", instance=instance, models=loader)[0].success
    finally:
        MODEL_CACHE.clear()
