"""The kind registry: a kind declared in one module runs end to end (engine, pack, sensor) without
touching any other file; an incomplete kind fails at registration naming the kind and the part."""

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, materialize
from pydantic import Field

from assetgen_dagster import kinds
from assetgen_dagster.batches import ImageItem, load_batch
from assetgen_dagster.definitions import build_definitions
from assetgen_dagster.engine import ItemAsset, ItemCheck, fail, ok
from assetgen_dagster.kinds import Kind, KindError, ModelRole, PackTarget
from assetgen_dagster.kinds.images import SD_TURBO, TINY_TEXT_TO_IMAGE, ImageParams
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.partitions import PROMPT_BATCHES
from assetgen_dagster.sensors import prompt_batch_sensor

from ..conftest import write_batch

# --- the toy kind: everything it needs, in this module -------------------------------------------


class PaletteItem(ImageItem):
    """A colour palette: ``colours`` dominant colours of an image generated from the prompt."""

    kind: Literal["palette"]
    colours: int = Field(default=4, ge=2, le=16)


@dataclass(frozen=True)
class PaletteRequest:
    prompt: str
    seed: int
    steps: int
    colours: int


class Palettes(ItemAsset):
    name = "palettes"
    kind = "palette"
    group = "toys"
    roles = ("palette",)
    title = "palettes"
    description = "Colour palettes: the dominant colours of a generated image, as JSON and a swatch."
    checks = (ItemCheck("enough_colours", "The palette has the colours asked for.",
                        lambda item, colours: ok() if len(colours) == item.colours else fail(f"{len(colours)} colours")),)

    def request(self, ctx, item):
        defaults = ctx.model_params("palette")
        return PaletteRequest(item.prompt, ctx.seed(item), ctx.params(item).get("steps", defaults.steps), item.colours)

    def generate(self, model, requests):
        import torch

        images = model.pipeline(prompt=[r.prompt for r in requests], num_inference_steps=requests[0].steps,
                                guidance_scale=0.0, width=64, height=64,
                                generator=[torch.Generator("cpu").manual_seed(r.seed) for r in requests]).images
        return [(image, request.colours) for image, request in zip(images, requests)]

    def chunks(self, requests, batch_size):
        return [[i] for i in range(len(requests))]  # steps may differ per item

    def write(self, out, item, request, raw) -> Any:
        image, count = raw
        quantized = image.quantize(colors=count, method=0)
        colours = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in
                   (quantized.getpalette()[i * 3:i * 3 + 3] for i in range(count))]
        out.write_bytes(json.dumps({"colours": colours, "provenance": out.provenance}).encode(), ".json")
        out.write_png(quantized.convert("RGB").resize((count * 8, 8)), "_swatch.png")
        return colours

    def load(self, out, item):
        return json.loads(out.path(".json").read_text())["colours"]


def toy_kind(**changes) -> Kind:
    kind = Kind(
        name="palette",
        item=PaletteItem,
        assets=(Palettes(),),
        pack=(PackTarget("palettes", lambda item_id, name: f"palettes/{name}"),),
        models=(ModelRole("palette", ImageParams, SD_TURBO, TINY_TEXT_TO_IMAGE),),
        summary="Colour palettes from a prompt.",
    )
    return replace(kind, **changes)


# --- tests ----------------------------------------------------------------------------------------

BATCH = """\
    defaults: {seed: 3}
    items:
      - {id: dusk, kind: palette, prompt: "a dusky forest", colours: 5}
      - {id: lava, kind: palette, prompt: "a lava cave", steps: 3}
      - {id: hero_art, kind: concept_art, prompt: "a hero"}
    """


def test_a_kind_declared_in_one_module_runs_through_engine_pack_and_sensor(tiny_kit, workdir):
    write_batch(workdir / "prompts", "toys", BATCH)
    with pytest.raises(Exception, match="palette"):
        load_batch(workdir / "prompts" / "toys.yaml")  # unknown kind until registered
    with kinds.registered(toy_kind()):
        instance = DagsterInstance.ephemeral()
        tick = prompt_batch_sensor(build_sensor_context(instance=instance))
        assert [request.partition_key for request in tick.run_requests] == ["toys"]
        instance.add_dynamic_partitions(PROMPT_BATCHES, ["toys"])

        defs = build_definitions()
        graph = defs.resolve_asset_graph()
        assert AssetKey("palettes") in graph.get(AssetKey("asset_pack")).parent_keys
        assets = [kinds.get("concept_art").assets[0].definition, kinds.get("palette").assets[0].definition,
                  next(a for a in defs.assets if getattr(a, "key", None) == AssetKey("asset_pack"))]
        result = materialize(assets, partition_key="toys", instance=instance, resources={"models": ModelLoader()})
        assert result.success

        out = workdir / "outputs" / "toys"
        dusk = json.loads((out / "palettes" / "dusk.json").read_text())
        assert len(dusk["colours"]) == 5 and dusk["provenance"]["model"] == "assetgen-tiny/text-to-image"
        manifest = json.loads((out / "palettes" / "manifest.json").read_text())
        assert set(manifest["items"]) == {"dusk", "lava"}
        assert manifest["items"]["lava"]["checks"]["enough_colours"]["passed"]
        pack = json.loads((out / "asset_pack" / "manifest.json").read_text())
        paths = {f["path"] for item in pack["items"] for f in item["files"]}
        assert {"palettes/dusk.json", "palettes/lava_swatch.png", "concept_art/hero_art.png"} <= paths
        assert pack["missing"] == {}
        evaluations = {(e.asset_key.to_user_string(), e.check_name): e.passed
                       for e in result.get_asset_check_evaluations()}
        assert evaluations == {("palettes", "enough_colours"): True, ("asset_pack", "complete"): True}

        again = materialize(assets, partition_key="toys", instance=instance, resources={"models": ModelLoader()})
        [event] = [e for e in again.get_asset_materialization_events() if e.asset_key == AssetKey("palettes")]
        assert event.materialization.metadata["reused"].value == 2  # the engine's reuse works for it too
    assert "palette" not in {kind.name for kind in kinds.all_kinds()}


@pytest.mark.parametrize("changes, part", [
    (dict(pack=()), "pack: say where the kind's files go"),
    (dict(pack=(PackTarget("elsewhere", lambda i, n: n),),), "pack: target asset 'elsewhere'"),
    (dict(models=()), "asset 'palettes': uses model role 'palette', which no kind declares"),
    (dict(assets=()), "assets: a kind needs at least one asset"),
    (dict(name="Palette"), "name: must match"),
    (dict(summary=""), "summary"),
    (dict(item=ImageItem), "item: its `kind` field must be Literal['palette']"),
    (dict(models=(ModelRole("palette", ImageParams, {**SD_TURBO, "params": {"stepz": 2}}, TINY_TEXT_TO_IMAGE),)),
     "model role 'palette', default catalog entry: field 'params.stepz'"),
    (dict(models=(ModelRole("palette", ImageParams, {**SD_TURBO, "pipeline": "MysteryPipeline"}, TINY_TEXT_TO_IMAGE),)),
     "model role 'palette', default catalog entry: field 'pipeline'"),
    (dict(models=(ModelRole("concept_art", ImageParams, SD_TURBO, TINY_TEXT_TO_IMAGE),)),
     "model role 'concept_art': is already declared by another kind"),
])
def test_an_incomplete_kind_fails_at_registration_naming_kind_and_part(changes, part):
    with pytest.raises(KindError) as info:
        kinds.register(toy_kind(**changes))
    assert str(info.value).startswith(f"kind {changes.get('name', 'palette')!r}: ")
    assert part in str(info.value)
    assert "palette" not in {kind.name for kind in kinds.all_kinds()}


def test_a_kind_cannot_be_registered_twice_nor_reuse_an_asset_name():
    with pytest.raises(KindError, match="kind 'concept_art' is already registered"):
        kinds.register(kinds.get("concept_art"))

    class Clash(Palettes):
        name = "sprites"

    with pytest.raises(KindError, match="asset 'sprites': another asset has this name"):
        kinds.register(toy_kind(assets=(Clash(),)))


def test_every_builtin_kind_is_complete_and_listed_once():
    names = [kind.name for kind in kinds.all_kinds()]
    assert names[:5] == ["concept_art", "sprite", "icon", "texture", "mesh"] and len(names) == len(set(names))
    for kind in kinds.all_kinds():
        assert kind.pack and kind.assets and kind.summary
