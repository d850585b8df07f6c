"""Image-conditioned items on the tiny kit: an init image (a file, or another item's output) that
the output moves away from as ``strength`` grows, inpainting that keeps the unmasked pixels, the init
image's and mask's hashes and the strength as identity and provenance, items made after the item
they start from, and bad input refused naming the file, the item and the field."""

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from assetgen_dagster.batches import BatchError
from assetgen_dagster.engine.runner import item_waves
from assetgen_dagster.kinds.images.conditioning import init_source

from ...conftest import REGISTRY, materialize_batch, metadata_of, parse_batch, step_failure, write_batch
from .test_style_reference import pixels, png, provenance

STRENGTHS = (0.2, 0.5, 0.9)
SEEDS = (1, 2, 3)
BATCH = "\n".join([
    "defaults: {steps: 10}",  # 0.2 of 10 steps is 2 denoising steps
    "items:",
    '  - {id: base, kind: concept_art, prompt: "a stone arch", seed: 11, steps: 2}',
    *(f'  - {{id: s{int(s * 10)}-{seed}, kind: concept_art, prompt: "a stone arch", seed: {seed}, '
      f"init_image: refs/sketch.png, strength: {s}}}" for s in STRENGTHS for seed in SEEDS),
    '  - {id: patched, kind: concept_art, prompt: "a window", seed: 4, init_image: refs/sketch.png, mask: refs/hole.png}',
    '  - {id: derived, kind: concept_art, prompt: "a mossy arch", seed: 5, init_image: {item: base}, strength: 0.5}',
    '  - {id: again, kind: concept_art, prompt: "a ruined arch", seed: 6, init_image: {item: derived}}',
    "",
])


def sketch(path) -> str:
    """A smooth init image (a diagonal gradient with a dark square); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:64, 0:64]
    rgb = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    rgb[20:44, 20:44] = 30
    Image.fromarray(rgb).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hole(path) -> str:
    """A mask that repaints the middle 32 x 32 pixels and keeps the rest."""
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(mask).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def conditioned(tiny_kit, workdir):
    """The batch made once in this test's folders: (its file, the files' hashes, the run, the instance)."""
    refs = workdir / "prompts" / "refs"
    shas = {"sketch": sketch(refs / "sketch.png"), "hole": hole(refs / "hole.png")}
    path = write_batch(workdir / "prompts", "arches", BATCH)
    result, instance = materialize_batch(["concept_art"], "arches")
    assert result.success
    return path, shas, result, instance


def vae_round_trip(image: np.ndarray) -> np.ndarray:
    """``image`` through the tiny model's VAE (encode, decode): what img2img starts from at strength 0.
    Random weights do not reconstruct, so the distance is measured to this, not to the file."""
    import torch
    from diffusers import AutoencoderKL
    from diffusers.image_processor import VaeImageProcessor
    from huggingface_hub import snapshot_download

    from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO

    vae = AutoencoderKL.from_pretrained(snapshot_download(TINY_TEXT_TO_IMAGE_REPO, local_files_only=True),
                                        subfolder="vae")
    processor = VaeImageProcessor()
    with torch.no_grad():
        decoded = vae.decode(vae.encode(processor.preprocess(Image.fromarray(image.astype(np.uint8)))).latent_dist.mode())
    return pixels_of(processor.postprocess(decoded.sample, output_type="pil")[0])


def pixels_of(image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def test_the_output_moves_away_from_the_init_image_as_strength_grows(conditioned, workdir):
    start = vae_round_trip(pixels(workdir / "prompts" / "refs" / "sketch.png"))
    for seed in SEEDS:
        distances = [np.abs(pixels(png(workdir, "arches", f"s{int(s * 10)}-{seed}")) - start).mean() for s in STRENGTHS]
        assert distances[0] < distances[1] < distances[2], (seed, distances)


def test_inpainting_keeps_the_unmasked_pixels_of_the_init_image_exactly(conditioned, workdir):
    init = pixels(workdir / "prompts" / "refs" / "sketch.png")
    out = pixels(png(workdir, "arches", "patched"))
    keep = np.ones((64, 64), dtype=bool)
    keep[16:48, 16:48] = False
    assert np.array_equal(out[keep], init[keep])  # pasted back: no VAE round trip outside the mask
    assert np.abs(out[~keep] - init[~keep]).mean() > 10  # repainted inside it


def test_init_image_mask_and_strength_are_identity_and_provenance(conditioned, workdir):
    path, shas, result, instance = conditioned
    recorded = provenance(png(workdir, "arches", "s5-1"))["conditioning"]
    assert recorded == {"file": "refs/sketch.png", "item": None, "sha256": shas["sketch"], "strength": 0.5,
                        "mask": None, "mask_sha256": None}
    patched = provenance(png(workdir, "arches", "patched"))["conditioning"]
    assert (patched["mask"], patched["mask_sha256"], patched["strength"]) == ("refs/hole.png", shas["hole"], 1.0)
    base_sha = hashlib.sha256(png(workdir, "arches", "base").read_bytes()).hexdigest()
    derived = provenance(png(workdir, "arches", "derived"))["conditioning"]
    assert (derived["file"], derived["item"], derived["sha256"], derived["strength"]) == (None, "base", base_sha, 0.5)
    assert provenance(png(workdir, "arches", "again"))["conditioning"]["item"] == "derived"  # a chain of two
    assert provenance(png(workdir, "arches", "base"))["conditioning"] is None
    assert REGISTRY.schema.references(REGISTRY.schema.load(path)) == ["refs/hole.png", "refs/sketch.png"]

    before = {p.name: p.read_bytes() for p in (workdir / "outputs" / "arches" / "concept_art").glob("*.png")}
    # One item's strength: that item only.
    path.write_text(path.read_text().replace("init_image: {item: base}, strength: 0.5", "init_image: {item: base}, strength: 0.7"))
    result, _ = materialize_batch(["concept_art"], "arches", instance=instance)
    assert metadata_of(result, "concept_art")["generated"] == 2  # derived, and again, made from derived's new pixels
    # The source item's prompt: it and the two made from it, in order (each from the other's new pixels).
    path.write_text(path.read_text().replace('"a stone arch", seed: 11', '"a marble arch", seed: 11'))
    result, _ = materialize_batch(["concept_art"], "arches", instance=instance)
    assert metadata_of(result, "concept_art")["generated"] == 3
    assert provenance(png(workdir, "arches", "again"))["conditioning"]["sha256"] == hashlib.sha256(
        png(workdir, "arches", "derived").read_bytes()).hexdigest()
    # The mask file: the inpainted item only.
    hole_mask = np.asarray(Image.open(workdir / "prompts" / "refs" / "hole.png")).copy()
    hole_mask[0:8, 0:8] = 255
    Image.fromarray(hole_mask).save(workdir / "prompts" / "refs" / "hole.png")
    result, _ = materialize_batch(["concept_art"], "arches", instance=instance)
    assert metadata_of(result, "concept_art")["generated"] == 1
    after = {p.name: p.read_bytes() for p in (workdir / "outputs" / "arches" / "concept_art").glob("*.png")}
    assert {name for name in before if before[name] != after[name]} == {"base.png", "derived.png", "again.png",
                                                                       "patched.png"}

    # The review page shows what each item was made from.
    assert materialize_batch(["asset_pack"], "arches", instance=instance)[0].success
    page = (workdir / "outputs" / "arches" / "asset_pack" / "index.html").read_text()
    assert page.count("<h4>made from</h4>") == 12  # every item but base
    assert "item base (strength 0.7)" in page and "mask refs/hole.png (white repainted)" in page


def test_items_made_from_other_items_come_in_waves_after_them():
    batch = parse_batch("""\
        items:
          - {id: c, kind: concept_art, prompt: x, init_image: {item: b}}
          - {id: a, kind: concept_art, prompt: x}
          - {id: b, kind: concept_art, prompt: x, init_image: {item: a}}
          - {id: d, kind: concept_art, prompt: x, init_image: refs/d.png}
        """)
    asset = SimpleNamespace(sources=init_source)
    waves = item_waves(asset, batch.items_of_kind("concept_art"))
    assert [[item.id for item in wave] for wave in waves] == [["a", "d"], ["b"], ["c"]]


@pytest.mark.parametrize(("item", "field", "problem"), [
    ("init_image: {item: nope}", "init_image.item", "no item 'nope' in the batch"),
    ("init_image: {item: a}", "init_image.item", "an item cannot start from its own output"),
    ("init_image: {item: coin}", "init_image.item", "item 'coin' is a icon; an init image comes from an item of the same kind"),
    ("init_image: {item: b}", "init_image.item", "form a cycle: a -> b -> a"),
    ("init_image: ../up.png", "init_image", "must be a path inside the prompts folder"),
    ("init_image: refs/sketch.gif", "init_image", "must be an image (.png, .jpg, .jpeg, .webp)"),
    ("init_image: refs/s.png, strength: 1.5", "strength", "less than or equal to 1"),
    ("init_image: refs/s.png, strength: 0", "strength", "greater than 0"),
    ("strength: 0.5", "strength", "applies to an init_image, which this item does not have"),
    ("mask: refs/m.png", "mask", "applies to an init_image"),
])
def test_bad_conditioning_is_refused_when_the_batch_is_read_naming_file_item_and_field(item, field, problem):
    with pytest.raises(BatchError) as refused:
        parse_batch(f"""\
            items:
              - {{id: a, kind: concept_art, prompt: x, {item}}}
              - {{id: b, kind: concept_art, prompt: x, init_image: {{item: a}}}}
              - {{id: coin, kind: icon, prompt: x}}
            """, "bad.yaml")
    text = str(refused.value)
    assert "bad.yaml" in text and "item 'a'" in text and repr(field) in text and problem in text, text


def test_a_strength_that_leaves_no_step_or_a_missing_init_image_fails_the_batch_before_any_model_loads(tiny_kit, workdir):
    sketch(workdir / "prompts" / "refs" / "sketch.png")
    write_batch(workdir / "prompts", "weak", """\
        items:
          - {id: first, kind: concept_art, prompt: "a rock"}
          - {id: weak, kind: concept_art, prompt: "a rock", steps: 2, init_image: refs/sketch.png, strength: 0.3}
          - {id: later, kind: concept_art, prompt: "a rock", init_image: {item: first}, mask: refs/missing.png}
        """)
    result, _ = materialize_batch(["concept_art"], "weak")
    assert not result.success
    message = step_failure(result)
    assert "weak.yaml" in message and "item 'weak', field 'strength'" in message
    assert "0.3 of 2 step(s) leaves no denoising step: use at least 4 steps" in message
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []  # bad input: no retry
    assert not (workdir / "outputs" / "weak" / "concept_art" / "first.png").exists()  # nothing was generated

    write_batch(workdir / "prompts", "weak", (workdir / "prompts" / "weak.yaml").read_text().replace("strength: 0.3", "strength: 0.5"))
    result, _ = materialize_batch(["concept_art"], "weak")
    message = step_failure(result)  # the item of a later wave is checked before the first wave generates
    assert "item 'later', field 'mask'" in message and "refs/missing.png: cannot be read" in message
    assert not (workdir / "outputs" / "weak" / "concept_art" / "first.png").exists()


def test_an_item_made_from_a_candidate_item_follows_its_pick(tiny_kit, workdir):
    """The source has two candidates: the item made from it starts from the picked one, and a new pick
    (the picks file) regenerates it from the newly picked pixels, the candidates themselves reused."""
    write_batch(workdir / "prompts", "picked", """\
        items:
          - {id: base, kind: concept_art, prompt: "a stone arch", seed: 3, variants: 2}
          - {id: derived, kind: concept_art, prompt: "a mossy arch", seed: 4, init_image: {item: base}, strength: 0.5}
        """)
    result, instance = materialize_batch(["concept_art"], "picked")
    assert result.success
    folder = workdir / "outputs" / "picked" / "concept_art"
    first_pick = provenance(folder / "base.png")["variant"]

    def sha(path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert provenance(folder / "derived.png")["conditioning"]["sha256"] == sha(folder / f"variants/base.v{first_pick}.png")
    other = 1 - first_pick
    (workdir / "prompts" / "picked.picks.yaml").write_text(f"base: {{pick: {other}}}\n")
    result, _ = materialize_batch(["concept_art"], "picked", instance=instance)
    assert metadata_of(result, "concept_art")["generated"] == 1  # derived only: both candidates reused
    assert provenance(folder / "derived.png")["conditioning"]["sha256"] == sha(folder / f"variants/base.v{other}.png")
