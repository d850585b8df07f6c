"""The registry of kinds: built once and handed down; a kind from another distribution (an entry
point) runs end to end and leaves when uninstalled; broken plugins, incomplete kinds and dangling
relations are refused naming the plugin or kind and the part, while the built-in kinds keep working."""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from pydantic import Field

from assetgen_dagster.batches import BatchError, ItemBase
from assetgen_dagster.definitions import build_definitions
from assetgen_dagster.engine import ItemAsset
from assetgen_dagster.kinds import Kind, KindError, ModelRole, PackTarget, in_folder
from assetgen_dagster.kinds.images import SD_TURBO, TINY_TEXT_TO_IMAGE, ImageParams
from assetgen_dagster.kinds.text import TextAsset
from assetgen_dagster.partitions import PROMPT_BATCHES
from assetgen_dagster.registry import BUILTIN_KINDS, ENTRY_POINT_GROUP, Registry, build_registry

from ..conftest import PROJECT_ROOT, REGISTRY, asset_defs, resources, sensor_tick, write_batch

EXAMPLE = PROJECT_ROOT / "examples" / "plugin_kind"

BATCH = """\
    defaults: {seed: 3}
    items:
      - {id: dusk, kind: palette, prompt: "a dusky forest", colours: 5}
      - {id: lava, kind: palette, prompt: "a lava cave", steps: 3}
      - {id: hero_art, kind: concept_art, prompt: "a hero"}
    """


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """The example plugin installed into a fresh target folder (`pip install --target`) on sys.path;
    deleting the folder uninstalls it."""
    source = shutil.copytree(EXAMPLE, tmp_path / "source")  # the build writes into its source tree
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    monkeypatch.syspath_prepend(str(target))
    yield target
    sys.modules.pop("assetgen_palette", None)


def test_a_plugin_runs_through_sensor_engine_pack_and_review_then_leaves_when_uninstalled(
        tiny_kit, workdir, installed_plugin):
    registry = build_registry()
    assert registry.kind("palette").name == "palette" and not registry.refused
    assert registry.origins["palette"] == "plugin palette (assetgen-palette 0.1.0)"
    write_batch(workdir / "prompts", "toys", BATCH)

    instance = DagsterInstance.ephemeral()
    [request] = sensor_tick(instance, registry=registry).run_requests  # the sensor sees its items
    assert request.partition_key == "toys"
    selected = [key.to_user_string() for key in request.asset_selection]
    assert selected[:2] == ["concept_art", "palettes"] and selected[-1] == "asset_pack"  # its kinds, then
    assert set(selected) == {*registry.definitions, "asset_pack"}  # once, the others as 0 items
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["toys"])

    graph = build_definitions(registry).resolve_asset_graph()
    assert AssetKey("palettes") in graph.get(AssetKey("asset_pack")).parent_keys
    assets = asset_defs("concept_art", "palettes", "asset_pack", registry=registry)
    result = materialize(assets, partition_key="toys", instance=instance, resources=resources())
    assert result.success

    out = workdir / "outputs" / "toys"
    dusk = json.loads((out / "palettes" / "dusk.json").read_text())
    assert len(dusk["colours"]) == 5 and dusk["_provenance"]["model"] == "assetgen-tiny/text-to-image"
    manifest = json.loads((out / "palettes" / "manifest.json").read_text())
    assert set(manifest["items"]) == {"dusk", "lava"}
    pack = json.loads((out / "asset_pack" / "manifest.json").read_text())
    paths = {f["path"] for item in pack["items"] for f in item["files"]}
    assert {"palettes/dusk.json", "palettes/lava_swatch.png", "concept_art/hero_art.png"} <= paths
    assert pack["missing"] == {}
    page = (out / "asset_pack" / "index.html").read_text()
    assert 'src="palettes/dusk_swatch.png"' in page  # drawn by the plugin's own review card
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {("palettes", "distinct_colours"): True, ("asset_pack", "complete"): True,
                           **{("concept_art", name): True for name in ("not_blank", "not_constant", "size_as_asked")}}

    cli = subprocess.run([str(Path(sys.executable).with_name("assetgen-dagster")), "kinds"], capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed_plugin)})
    assert cli.returncode == 0 and "palette" in cli.stdout and "assetgen-palette 0.1.0" in cli.stdout

    shutil.rmtree(installed_plugin)  # uninstalled
    after = build_registry()
    assert "palette" not in [kind.name for kind in after.kinds]
    with pytest.raises(BatchError, match="does not match any of the expected tags"):
        after.schema.load(workdir / "prompts" / "toys.yaml")


def write_distribution(folder: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution in ``folder`` (what pip leaves in site-packages)."""
    info = folder / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source)


# A complete kind, but its model role asks for a library the model loader does not build.
DECAL_SOURCE = """\
from typing import Literal

from assetgen_dagster.batches import ImageItem
from assetgen_dagster.kinds import Kind, ModelRole, PackTarget, in_folder
from assetgen_dagster.kinds.concept_art import ConceptArt
from assetgen_dagster.kinds.images import SD_TURBO, TINY_TEXT_TO_IMAGE, ImageParams


class DecalItem(ImageItem):
    kind: Literal["decal"]


class Decals(ConceptArt):
    name = "decals"
    kind = "decal"
    roles = ("decal",)


KIND = Kind(name="decal", item=DecalItem, assets=(Decals(),), pack=(PackTarget("decals", in_folder("decals")),),
            models=(ModelRole("decal", ImageParams, SD_TURBO, TINY_TEXT_TO_IMAGE, library="onnxruntime"),),
            summary="Decals.")
"""

BROKEN = {
    "does not import": ({"broken": "studio_broken:KIND"}, {"studio_broken": "import no_such_module\n"},
                        "it does not import: ModuleNotFoundError"),
    "not a kind": ({"notakind": "studio_notakind:KIND"}, {"studio_notakind": "KIND = 42\n"},
                   "is a int, not an assetgen_dagster.kinds.Kind"),
    "a built-in's name": ({"sprite": "studio_dupe:KIND"},
                          {"studio_dupe": "from assetgen_dagster.kinds import sprite\nKIND = sprite.KIND\n"},
                          "kind 'sprite': name: another kind has this name"),
    "a pipeline the loader will not build": ({"decal": "studio_decal:KIND"}, {"studio_decal": DECAL_SOURCE},
                                             "model role 'decal': library 'onnxruntime' is not one the loader builds"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_plugin_is_refused_naming_plugin_and_problem_and_the_builtins_keep_working(
        tmp_path, monkeypatch, case):
    entry_points, modules, problem = BROKEN[case]
    write_distribution(tmp_path, "studio-kinds", entry_points, modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_registry()
    [refused] = registry.refused
    assert refused.distribution == "studio-kinds 1.0" and refused.entry_point.startswith(next(iter(entry_points)))
    assert problem in refused.problem, refused.problem
    assert str(refused).startswith(f"plugin '{refused.entry_point}' (studio-kinds 1.0) refused: ")
    assert [kind.name for kind in registry.kinds] == [kind.name for kind in BUILTIN_KINDS]
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture(scope="module")
def palette():
    """The example plugin's module, imported from the checkout (for building variants of its kind)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        import assetgen_palette
    finally:
        sys.path.remove(str(EXAMPLE))
    yield assetgen_palette
    sys.modules.pop("assetgen_palette", None)


@pytest.mark.parametrize("changes, part", [
    (dict(pack=()), "pack: say where the kind's files go"),
    (dict(pack=(PackTarget("elsewhere", lambda i, n: n),),), "pack: target asset 'elsewhere'"),
    (dict(models=()), "asset 'palettes': roles: no kind declares model role 'palette'"),
    (dict(assets=()), "assets: a kind needs at least one asset"),
    (dict(name="Palette"), "kind 'Palette': name: must match"),
    (dict(summary=""), "summary"),
    (dict(item=ItemBase), "item: its `kind` field must be Literal['palette']"),
    (dict(models=(ModelRole("palette", ImageParams, {**SD_TURBO, "params": {"stepz": 2}}, TINY_TEXT_TO_IMAGE),)),
     "model role 'palette': default catalog entry: field 'params.stepz'"),
    (dict(models=(ModelRole("palette", ImageParams, {**SD_TURBO, "pipeline": "MysteryPipeline"}, TINY_TEXT_TO_IMAGE),)),
     "model role 'palette': default catalog entry: field 'pipeline': the installed diffusers has no pipeline class"),
    (dict(models=(ModelRole("palette", ImageParams, SD_TURBO, TINY_TEXT_TO_IMAGE, library="transformers"),)),
     "'StableDiffusionPipeline' is not a transformers pipeline task"),
    (dict(models=(ModelRole("concept_art", ImageParams, SD_TURBO, TINY_TEXT_TO_IMAGE),)),
     "model role 'concept_art': kind 'concept_art' declares it already"),
    (dict(consumes=("concept_art", "sketch")), "kind 'palette': consumes: no kind 'sketch' is registered"),
    (dict(translatable="tips"), "translatable: 'tips' is not one of this kind's assets"),
])
def test_an_incomplete_or_inconsistent_kind_is_refused_naming_kind_and_part(palette, changes, part):
    with pytest.raises(KindError) as info:
        Registry([*BUILTIN_KINDS, replace(palette.KIND, **changes)])
    assert f"kind {changes.get('name', 'palette')!r}: " in str(info.value)
    assert part in str(info.value)


def test_an_asset_reads_only_assets_of_its_kind_or_of_a_kind_it_consumes(palette):
    reads_meshes = type("ReadsMeshes", (palette.Palettes,), {"deps": ("meshes",)})()
    with pytest.raises(KindError, match="asset 'palettes': deps: 'meshes' is an asset of kind 'mesh', which kind "
                                        "'palette' does not list in `consumes`"):
        Registry([*BUILTIN_KINDS, replace(palette.KIND, assets=(reads_meshes,))])
    Registry([*BUILTIN_KINDS, replace(palette.KIND, assets=(reads_meshes,), consumes=("mesh",))])  # declared: fine
    dangling = type("ReadsNothing", (palette.Palettes,), {"deps": ("moodboards",)})()
    with pytest.raises(KindError, match="deps: no asset 'moodboards' is registered"):
        Registry([*BUILTIN_KINDS, replace(palette.KIND, assets=(dangling,))])
    clash = type("Clash", (palette.Palettes,), {"name": "sprites"})()
    with pytest.raises(KindError, match="asset 'sprites': kind 'sprite' has an asset with this name"):
        Registry([*BUILTIN_KINDS, replace(palette.KIND, assets=(clash,), pack=(PackTarget("sprites", in_folder("x")),))])


# --- a text kind from outside joins the localization by declaring its translatable asset -----------


class TipItem(ItemBase):
    """A loading-screen tip, written by hand."""

    kind: Literal["tip"]
    text: str = Field(min_length=1, max_length=300)


@dataclass(frozen=True)
class TipRequest:
    text: str


class Tips(TextAsset):
    name = "tips"
    kind = "tip"
    reads_batch_file = True
    title = "tips"
    ui_kinds = ("json",)
    description = "Loading-screen tips as JSON."

    def request(self, ctx: Any, item: TipItem) -> TipRequest:
        return TipRequest(item.text)

    def generate(self, model: Any, requests: Any) -> list[Any]:
        return [request.text for request in requests]

    def write(self, out: Any, item: TipItem, request: TipRequest, raw: str) -> Any:
        return self.write_record(out, {"text": raw})

    def localizable(self, item_id: str, record: dict[str, Any]) -> dict[str, str]:
        return {f"{item_id}.text": record["text"]}


TIPS = Kind(name="tip", item=TipItem, assets=(Tips(),), pack=(PackTarget("tips", in_folder("text/tips")),),
            models=(), summary="Loading-screen tips.", translatable="tips")


def test_localization_covers_every_kind_that_declares_translatable_text(tiny_kit, workdir):
    registry = build_registry(plugins=False, extra=[TIPS])
    assert registry.item_kinds("localization") == ("item_text", "dialogue", "strings", "tip")
    assert "tips" in registry.relations("localization").deps
    assert REGISTRY.item_kinds("localization") == ("item_text", "dialogue", "strings")  # each registry its own
    write_batch(workdir / "prompts", "tips", """\
        locales: [fr]
        items:
          - {id: tip_jump, kind: tip, text: "Press {jump} twice to double jump."}
        """)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["tips"])
    result = materialize(asset_defs("tips", "localization", registry=registry), partition_key="tips",
                         instance=instance, resources=resources())
    assert result.success
    record = json.loads((workdir / "outputs" / "tips" / "localization" / "tip_jump.json").read_text())
    assert record["en"] == {"tip_jump.text": "Press {jump} twice to double jump."}
    assert "{jump}" in record["fr"]["tip_jump.text"]  # placeholders kept, as for the built-in text kinds
    table = (workdir / "outputs" / "tips" / "localization" / "translations.csv").read_text()
    assert table.splitlines()[0] == "keys,en,fr" and "tip_jump.text," in table


def test_every_builtin_kind_is_complete_and_listed_once():
    names = [kind.name for kind in REGISTRY.kinds]
    assert names[:5] == ["concept_art", "sprite", "icon", "texture", "mesh"] and len(names) == len(set(names))
    for kind in REGISTRY.kinds:
        assert kind.pack and kind.assets and kind.summary
    assert REGISTRY.kind("mesh").consumes == ("concept_art",)
    assert REGISTRY.asset("meshes").deps == ("concept_art",)
    with pytest.raises(KindError, match="no kind 'palette'; registered kinds: concept_art, sprite"):
        REGISTRY.kind("palette")


def test_each_registry_has_its_own_kinds_and_nothing_is_global():
    """A registry is a value: two can coexist, and what one has the other does not see."""
    import assetgen_dagster.kinds as kinds_package

    with_tips = build_registry(plugins=False, extra=[TIPS])
    tip = "items:\n  - {id: t, kind: tip, text: hello}\n"
    assert with_tips.schema.parse(tip).items[0].kind == "tip"
    with pytest.raises(BatchError, match="kinds: concept_art"):
        REGISTRY.schema.parse(tip)
    assert "tips" in with_tips.definitions and "tips" not in REGISTRY.definitions
    assert not hasattr(kinds_package, "register") and not hasattr(kinds_package, "all_kinds")
    assert isinstance(REGISTRY.asset("textures"), ItemAsset)
