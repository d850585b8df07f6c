"""``texture``: seamless, power-of-two textures, and PBR maps (height, normal, roughness, AO) derived from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from assetgen_dagster.batches import PromptBatch
from assetgen_dagster.engine import (
    BatchContext,
    ItemAsset,
    ItemCheck,
    ItemOutput,
    Verdict,
    fail,
    ok,
    runtime_input,
    worst,
)
from assetgen_dagster.engine.cards import Markup, files_of, image, tiled
from assetgen_dagster.engine.preview import grid
from assetgen_dagster.engine.preview import tiled as tiled_image
from assetgen_dagster.kinds.base import Kind, PackTarget
from assetgen_dagster.kinds.images import TINY_TEXTURE, ImageRequest, TextToImageAsset, image_role, load_array, style
from assetgen_dagster.kinds.images.checks import not_constant
from assetgen_dagster.kinds.images.style import StyledImageItem

MAX_SEAM_RATIO = 1.5  # wrap-around edge difference / the neighbour differences next to the edges
MAX_SEAM_GAP = 0.3  # interior neighbour lines' correlation - the wrap-around lines' correlation
NORMAL_TOLERANCE = 0.02  # |length - 1| of decoded 8-bit normals (quantisation alone is < 0.01)
MAP_NAMES = ("height", "normal", "roughness", "ao")


class TextureItem(StyledImageItem):
    """Seamless along ``tile``; its PBR maps use ``normal_strength`` and ``normal_convention``."""

    kind: Literal["texture"]
    tile: Literal["both", "x", "y"] = "both"
    normal_strength: Annotated[float, Field(gt=0.0, le=20.0)] = 2.0
    normal_convention: Literal["opengl", "directx"] = "opengl"

    def batch_problems(self, batch: PromptBatch) -> Iterable[tuple[str, str]]:
        for side in ("width", "height"):
            value = getattr(self, side) or getattr(batch.defaults, side)
            if value is not None and value & (value - 1):
                where = "" if getattr(self, side) else " (from defaults)"
                yield side, f"textures need a power-of-two size, not {value}{where}"


def tileable(image: Any, tile: str, max_ratio: float = MAX_SEAM_RATIO, max_gap: float = MAX_SEAM_GAP) -> Verdict:
    """Along each tiled axis, the lines that meet at the wrap-around differ no more than neighbouring
    lines do: their difference is comparable to the differences next to the edges (ratio about 1,
    well above where opposite edges do not meet), and they are as alike in pattern as neighbours
    inside (correlation gap about 0, large where opposite edges are unrelated)."""
    from assetgen_dagster.kinds.images.seams import seam_correlation_gap, seam_ratio

    axes = {"x": 1, "y": 0} if tile == "both" else {tile: 1 if tile == "x" else 0}
    ratios = {name: round(seam_ratio(image, axis), 3) for name, axis in axes.items()}
    gaps = {name: round(seam_correlation_gap(image, axis), 3) for name, axis in axes.items()}
    seams = [f"{name} seam ratio {ratio} > {max_ratio}" for name, ratio in ratios.items() if ratio > max_ratio]
    seams += [f"{name} seam correlation gap {gap} > {max_gap}" for name, gap in gaps.items() if gap > max_gap]
    figures = {"seam_ratio": max(ratios.values()), "seam_ratios": ratios, "seam_gap": max(gaps.values()),
               "seam_gaps": gaps}
    return fail(", ".join(seams), **figures) if seams else ok(**figures)


def seam_summary(verdicts: Any) -> dict[str, Any]:
    """The batch's worst seam figures (ratio and correlation gap) for the UI."""
    return {**worst("seam_ratio", "max_seam_ratio")(verdicts), **worst("seam_gap", "max_seam_gap")(verdicts)}


def power_of_two(image: Any) -> Verdict:
    from assetgen_dagster.kinds.texture.pbr import is_power_of_two

    height, width = image.shape[:2]
    if is_power_of_two(height) and is_power_of_two(width):
        return ok(size=f"{width}x{height}")
    return fail(f"{width}x{height} is not power-of-two", size=f"{width}x{height}")


def unit_normals(normal_rgb: Any, tolerance: float = NORMAL_TOLERANCE) -> Verdict:
    """Decoded normal-map vectors have unit length within ``tolerance`` and point out of the surface."""
    import numpy as np

    from assetgen_dagster.kinds.texture.pbr import decode_normal

    vectors = decode_normal(normal_rgb)
    error = round(float(np.abs(np.linalg.norm(vectors, axis=-1) - 1.0).max()), 4)
    if error > tolerance:
        return fail(f"max |length - 1| = {error:.3f} > {tolerance}", length_error=error)
    if (vectors[..., 2] <= 0).any():
        return fail("some normals point into the surface (z <= 0)", length_error=error)
    return ok(length_error=error)


def all_maps_vary(maps: dict[str, Any]) -> Verdict:
    flat = {name: not_constant(values) for name, values in maps.items()}
    failed = [f"{name}: {verdict.message}" for name, verdict in flat.items() if not verdict.passed]
    return fail("; ".join(failed)) if failed else ok()


class Textures(TextToImageAsset):
    name = "textures"
    kind = "texture"
    roles = ("texture",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    group = "materials"
    title = "textures"
    checks = (
        ItemCheck("tileable", "Opposite edges meet, on every tiled axis: the wrap-around edge difference <= 1.5x "
                  "the neighbour differences next to the edges, and the lines meeting there correlate within "
                  "0.3 of how neighbouring lines inside do.",
                  lambda item, rgb: tileable(rgb, item.tile), blocking=True,
                  summary=seam_summary),
        ItemCheck("power_of_two", "Width and height are powers of two.", lambda item, rgb: power_of_two(rgb),
                  blocking=True),
        ItemCheck("not_constant", "No flat or NaN-derived image.", lambda item, rgb: not_constant(rgb)),
    )
    description = (
        "Seamless textures: one tileable PNG per `texture` item, generated with circular padding in the "
        "UNet and VAE convolutions on the item's `tile` axes (both, x or y), at power-of-two sizes. "
        "`<output_dir>/<batch>/textures/<item>.png`."
    )

    def request(self, ctx: BatchContext, item: TextureItem) -> ImageRequest:
        """An image request that generates with wrap-around padding on the item's ``tile`` axes."""
        return replace(super().request(ctx, item), tile=item.tile)

    def write(self, out: ItemOutput, item: TextureItem, request: ImageRequest, raw: Any) -> Any:
        import numpy as np

        out.write_png(raw)
        return np.asarray(raw)

    def load(self, out: ItemOutput, item: TextureItem) -> Any:
        return load_array(out.files[0], "RGB")

    def preview(self, out: ItemOutput, item: TextureItem) -> Any:
        """Tiled 2 x 2, so a seam would show in the middle."""
        from PIL import Image

        with Image.open(out.files[0]) as image:
            return tiled_image(image.convert("RGB"))


@dataclass(frozen=True)
class PbrRequest:
    source: str  # the texture, relative to the output directory
    source_sha256: str
    normal_strength: float
    normal_convention: str
    source_path: Path = runtime_input()


class PbrMaps(ItemAsset):
    name = "pbr_maps"
    kind = "texture"
    group = "materials"
    deps = ("textures",)
    ui_kinds = ("numpy", "image")
    title = "PBR maps"
    checks = (
        ItemCheck("normals_unit_length", "Decoded normals have unit length (+-0.02) and face outwards.",
                  lambda item, maps: unit_normals(maps["normal"]), summary=worst("length_error", "max_length_error")),
        ItemCheck("maps_tile", "Height maps tile like their texture (wrap-around filtering).",
                  lambda item, maps: tileable(maps["height"], item.tile), summary=seam_summary),
        ItemCheck("not_constant", "No flat or NaN-derived map.", lambda item, maps: all_maps_vary(maps)),
    )
    description = (
        "PBR maps for every texture: height (luminance), normal (wrap-around Sobel; `normal_strength`, "
        "OpenGL or DirectX green channel per `normal_convention`), roughness and ambient-occlusion "
        "estimates, all tileable. `<output_dir>/<batch>/pbr_maps/<item>_<map>.png`. Follows `textures` "
        "automatically (automation condition); a texture that failed a blocking check is skipped."
    )

    def request(self, ctx: BatchContext, item: TextureItem) -> PbrRequest:
        source, sha256 = ctx.upstream_file("textures", item.id, item.id)
        return PbrRequest(source, sha256, item.normal_strength, item.normal_convention, ctx.absolute(source))

    def generate(self, model: None, requests: Sequence[PbrRequest]) -> list[dict[str, Any]]:
        from assetgen_dagster.kinds.texture import pbr

        maps = []
        for request in requests:
            texture = load_array(request.source_path, "RGB")
            made = pbr.pbr_maps(texture, request.normal_strength, request.normal_convention)
            maps.append({"height": pbr.to_uint8(made.height), "normal": pbr.encode_normal(made.normal),
                         "roughness": pbr.to_uint8(made.roughness), "ao": pbr.to_uint8(made.ao)})
        return maps

    def write(self, out: ItemOutput, item: TextureItem, request: PbrRequest, raw: dict[str, Any]) -> dict[str, Any]:
        for name in MAP_NAMES:
            out.write_png(raw[name], f"_{name}.png", map=name)
        return raw

    def load(self, out: ItemOutput, item: TextureItem) -> dict[str, Any]:
        return {name: load_array(out.path(f"_{name}.png"), "RGB" if name == "normal" else "L") for name in MAP_NAMES}

    def preview(self, out: ItemOutput, item: TextureItem) -> Any:
        """The four maps, 2 x 2: height, normal, roughness, AO."""
        from PIL import Image

        return grid([Image.open(out.path(f"_{name}.png")) for name in MAP_NAMES])


def review(card: Any) -> Any:
    """The texture tiled 3 x 3, beside its four maps."""

    if not files_of(card, "textures"):
        return Markup("")
    [(albedo, source)] = files_of(card, "textures")
    by_name = {path.rsplit("/", 1)[-1].removesuffix(".png"): source for path, source in files_of(card, "pbr_maps")}
    maps = [image(pack_name(card.item, name), by_name[name], name, zoom=False) for name in MAP_NAMES if name in by_name]
    return Markup("").join([tiled(albedo, source, "albedo"), *maps])


NORMAL_NAMES = {"opengl": "normal_gl", "directx": "normal_dx"}  # Godot, Unity, Blender: GL; Unreal: DX
# Godot 3 import presets shipped beside each map: the editor imports with them (tiling needs repeat).
GODOT_IMPORT = """[remap]

importer="texture"
type="StreamTexture"

[params]

flags/repeat=1
flags/filter=true
flags/mipmaps=true
compress/normal_map={normal_map}
detect_3d=false
"""


def pack_name(item: TextureItem, map_name: str) -> str:
    """Where a map (``albedo``, ``height``, ``normal``, ``roughness``, ``ao``, ``orm``) of ``item`` goes
    in the pack: ``materials/<item>/<map>.png``, the normal map named for its convention."""
    name = NORMAL_NAMES[item.normal_convention] if map_name == "normal" else map_name
    return f"materials/{item.id}/{name}.png"


def engine_files(item: TextureItem, sources: dict[str, dict[str, Path]]) -> dict[str, bytes | Path]:
    """A material as engines take it (:func:`pack_name`): albedo, height, roughness and AO, the normal
    map named for its convention (``normal_gl``/``normal_dx``), ``orm.png`` (occlusion, roughness,
    metallic in R, G, B, as glTF and Unreal pack them; metallic 0: the maps have none), and a Godot 3
    ``.import`` preset per image that imports it with repeat and mipmaps."""
    import io

    import numpy as np
    from PIL import Image

    maps = {name: path for files in sources.values() for name, path in files.items()}
    named = {"albedo": maps[f"{item.id}.png"], **{name: maps[f"{item.id}_{name}.png"] for name in MAP_NAMES}}
    with Image.open(named["ao"]) as ao, Image.open(named["roughness"]) as roughness:
        channels = [np.asarray(ao.convert("L")), np.asarray(roughness.convert("L"))]
    channels.append(np.zeros_like(channels[0]))
    orm = io.BytesIO()
    Image.fromarray(np.stack(channels, axis=-1)).save(orm, format="PNG")
    files: dict[str, bytes | Path] = {pack_name(item, name): path for name, path in named.items()}
    files[pack_name(item, "orm")] = orm.getvalue()
    for name in [*named, "orm"]:
        preset = GODOT_IMPORT.format(normal_map=int(name == "normal")).encode()
        files[f"{pack_name(item, name)}.import"] = preset
    return files


def material_path(item_id: str, file_name: str) -> str:
    """``materials/<item>/<map>.png``: the texture is the albedo, each map keeps its name."""
    if file_name == f"{item_id}.png":
        return f"materials/{item_id}/albedo.png"
    return f"materials/{item_id}/{file_name.removeprefix(item_id + '_')}"


KIND = Kind(
    name="texture",
    sections=style.SECTION,
    references=style.referenced_images,
    item=TextureItem,
    assets=(Textures(), PbrMaps()),
    pack=(PackTarget("textures", material_path), PackTarget("pbr_maps", material_path)),
    assemble=engine_files,
    models=(image_role("texture", tiny=TINY_TEXTURE),),
    summary="Seamless power-of-two textures with PBR maps (height, normal, roughness, AO).",
    review=review,
)
