"""``skybox``: 360-degree skies as an equirectangular panorama that wraps horizontally, with smooth poles,
and the six faces of the same sky as a cubemap."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from assetgen_dagster.batches import DiffusionItem
from assetgen_dagster.engine import BatchContext, ItemCheck, ItemOutput, Verdict, fail, ok
from assetgen_dagster.engine.cards import Markup, files_of, image
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget
from assetgen_dagster.kinds.images import (
    FULL_SD_TURBO,
    IMAGE_ALTERNATIVES,
    SD_TURBO,
    TINY_TEXTURE,
    ImageParams,
    ImageRequest,
    TextToImageAsset,
    load_array,
)

# The step across 360/0 over the column steps next to it, and how much less alike the two columns
# are than neighbours inside. On 2:1 skies the ratio alone overlaps: over 24 seeds of the tiny kit,
# wrapped 0.73-1.54, unwrapped 1.36-2.81; the correlation gap separates them (<= 0.2 vs >= 0.41).
MAX_SEAM_RATIO = 2.0
MAX_SEAM_GAP = 0.3
MAX_POLE_STD = 2.0  # 8-bit levels of spread along the top and bottom rows
MAX_EDGE_RATIO = 2.0  # cube faces: the step across a shared edge over the step just inside it
POLE_BAND = 1 / 6  # of the height (30 degrees), at each pole, blended toward each row's mean colour


def _power_of_two(value: int | None, name: str) -> int | None:
    if value is not None and value & (value - 1):
        raise ValueError(f"{name} must be a power of two, not {value}")
    return value


class SkyboxItem(DiffusionItem):
    """An equirect ``size`` px wide (height ``size / 2``) and a cubemap of ``cubemap_size`` px faces."""

    kind: Literal["skybox"]
    size: Annotated[int, Field(ge=1024, le=8192)] = 2048
    cubemap_size: Annotated[int, Field(ge=64, le=4096)] | None = None  # default: size / 4

    @field_validator("size")
    @classmethod
    def _size(cls, value: int) -> int:
        return _power_of_two(value, "size")

    @field_validator("cubemap_size")
    @classmethod
    def _cubemap_size(cls, value: int | None, info: ValidationInfo) -> int | None:
        size = info.data.get("size")
        if value is not None and size is not None and value > size // 2:
            raise ValueError(f"{value} is more than half the equirect's width {size}: the faces would only "
                             f"magnify it")
        return _power_of_two(value, "cubemap_size")

    def face_size(self) -> int:
        return self.cubemap_size or self.size // 4


# SD-Turbo at 1024 x 512 with wrap-around padding in x; the tiny texture model keeps images smooth, so a
# seam (or its absence) is measurable offline as it is for textures.
SKYBOX_ROLE = ModelRole(
    name="skybox", params=ImageParams,
    default={**SD_TURBO, "params": {**SD_TURBO["params"], "width": 1024, "height": 512, "batch_size": 2}},
    tiny=TINY_TEXTURE, alternatives=IMAGE_ALTERNATIVES, full=FULL_SD_TURBO,
)


@dataclass(frozen=True)
class SkyboxRequest(ImageRequest):
    size: int = 2048
    face_size: int = 512
    pole_band: float = POLE_BAND


@dataclass(frozen=True)
class Sky:
    """What the checks look at: the equirect and the six faces, as written, and the width the
    equirect was generated at (its seam is measured at that scale)."""

    equirect: Any
    faces: dict[str, Any]
    generated_width: int = 0  # 0: measure as written


def wraps_horizontally(sky: Sky) -> Verdict:
    """At the scale it was generated at, the step between the last column and the first is no larger
    than twice the column steps next to it, and the two columns are as alike in pattern as neighbours
    inside (correlation gap <= 0.3)."""
    from assetgen_dagster.kinds.images.seams import seam_correlation_gap, seam_ratio
    from assetgen_dagster.kinds.skybox.projection import block_mean

    width = sky.equirect.shape[1]
    scaled = block_mean(sky.equirect, width // sky.generated_width if sky.generated_width else 1)
    ratio, gap = round(seam_ratio(scaled, 1), 3), round(seam_correlation_gap(scaled, 1), 3)
    problems = [f"seam ratio {ratio} > {MAX_SEAM_RATIO}"] * (ratio > MAX_SEAM_RATIO)
    problems += [f"seam correlation gap {gap} > {MAX_SEAM_GAP}"] * (gap > MAX_SEAM_GAP)
    return fail("a seam at 0/360 degrees: " + ", ".join(problems), seam_ratio=ratio, seam_gap=gap) if problems \
        else ok(seam_ratio=ratio, seam_gap=gap)


def poles_smooth(sky: Sky) -> Verdict:
    """The top and bottom rows (each one point of the sphere) vary by at most 2 levels (std)."""
    import numpy as np

    spread = {pole: round(float(np.asarray(row, dtype=np.float32).std(axis=0).max()), 3)
              for pole, row in (("top", sky.equirect[0]), ("bottom", sky.equirect[-1]))}
    pinched = {pole: value for pole, value in spread.items() if value > MAX_POLE_STD}
    if pinched:
        return fail(f"pinched pole: row spread {pinched} > {MAX_POLE_STD}", pole_std=max(spread.values()))
    return ok(pole_std=max(spread.values()))


def cube_edges_match(sky: Sky) -> Verdict:
    """Every face continues into its neighbours: the step across each shared edge is at most 2x the
    step just inside the face (see ``projection.edge_mismatch``)."""
    from assetgen_dagster.kinds.skybox.projection import edge_mismatch

    ratios = {face: round(ratio, 3) for face, ratio in edge_mismatch(sky.faces).items()}
    worst = max(ratios.values())
    bad = {face: ratio for face, ratio in ratios.items() if ratio > MAX_EDGE_RATIO}
    if bad:
        return fail(f"faces do not meet their neighbours: {bad} > {MAX_EDGE_RATIO}", edge_ratio=worst,
                    edge_ratios=ratios)
    return ok(edge_ratio=worst, edge_ratios=ratios)


def shapes(item: SkyboxItem, sky: Sky) -> Verdict:
    """The equirect is exactly 2:1 at the asked power-of-two width; six square faces of the asked size."""
    height, width = sky.equirect.shape[:2]
    face = item.face_size()
    wrong = [] if (width, height) == (item.size, item.size // 2) else [f"equirect {width}x{height}"]
    wrong += [f"{name} {f.shape[1]}x{f.shape[0]}" for name, f in sky.faces.items() if f.shape[:2] != (face, face)]
    if len(sky.faces) != 6:
        wrong.append(f"{len(sky.faces)} faces")
    return fail(f"asked for {item.size}x{item.size // 2} and {face} px faces: {', '.join(wrong)}") if wrong \
        else ok(size=f"{width}x{height}", face=face)


class Skyboxes(TextToImageAsset):
    name = kind = "skybox"
    roles = ("skybox",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    group = "environment"
    title = "skyboxes"
    checks = (
        ItemCheck("wraps_horizontally", "At the generated scale, the step across 360/0 degrees is at most twice "
                  "the column steps next to it, and the columns meeting there correlate within 0.3 of "
                  "neighbouring columns inside.", lambda item, sky: wraps_horizontally(sky), blocking=True),
        ItemCheck("poles_smooth", "The top and bottom rows vary by at most 2 levels (no pinch at the poles).",
                  lambda item, sky: poles_smooth(sky)),
        ItemCheck("cube_edges_match", "Adjacent cube faces agree along their shared edges (step across <= 2x the "
                  "step inside).", lambda item, sky: cube_edges_match(sky), blocking=True),
        ItemCheck("equirect_and_faces_shape", "A 2:1 power-of-two equirect and six square faces of the asked size.",
                  shapes, blocking=True),
    )
    description = (
        "Skyboxes: an equirectangular sky generated with wrap-around padding in x (it continues across "
        "360/0 degrees), at the catalog's width x width/2, resized to the item's `size`, its poles "
        "blended to one colour; and the six cubemap faces sampled from it. `<output_dir>/<batch>/skybox/"
        "<item>.png` (equirect) and `<item>/{px,nx,py,ny,pz,nz}.png` (faces, OpenGL cube-map orientation)."
    )

    def request(self, ctx: BatchContext, item: SkyboxItem) -> SkyboxRequest:
        """Generated 2:1 at the catalog's width, wrapping in x; resized to ``size`` afterwards."""
        base = super().request(ctx, item)
        return SkyboxRequest(**vars(replace(base, height=base.width // 2, tile="x")), size=item.size,
                             face_size=item.face_size())

    def write(self, out: ItemOutput, item: SkyboxItem, request: SkyboxRequest, raw: Any) -> Sky:
        import numpy as np

        from assetgen_dagster.kinds.skybox.projection import FACES, cube_faces, resize_equirect, smooth_poles

        equirect = smooth_poles(resize_equirect(np.asarray(raw.convert("RGB")), request.size), request.pole_band)
        out.write_png(equirect, projection="equirectangular")
        faces = cube_faces(equirect, request.face_size)
        for name in FACES:
            out.write_png(faces[name], f"/{name}.png", projection="cubemap", face=name)
        return Sky(equirect, faces, request.width)

    def load(self, out: ItemOutput, item: SkyboxItem) -> Sky:
        from assetgen_dagster.kinds.skybox.projection import FACES

        faces = {name: load_array(out.path(f"/{name}.png"), "RGB") for name in FACES}
        return Sky(load_array(out.path(".png"), "RGB"), faces, out.provenance["width"])

    def preview(self, out: ItemOutput, item: SkyboxItem) -> Any:
        from PIL import Image

        return Image.open(out.path(".png"))


def skybox_path(item_id: str, file_name: str) -> str:
    """``skyboxes/<item>.png`` (equirect) and ``skyboxes/<item>/<face>.png``: the asset's layout."""
    return f"skyboxes/{file_name}"


# A Godot 3 Environment whose background is the sky: set it on a WorldEnvironment. The panorama
# path is relative to the resource, so it works wherever the pack is copied.
GODOT_ENVIRONMENT = """[gd_resource type="Environment" load_steps=3 format=2]

[ext_resource path="{image}" type="Texture" id=1]

[sub_resource type="PanoramaSky" id=1]
panorama = ExtResource( 1 )

[resource]
background_mode = 2
background_sky = SubResource( 1 )
"""


def engine_files(item: SkyboxItem, sources: dict[str, dict[str, Path]]) -> dict[str, bytes | Path]:
    """The equirect and faces as written (:func:`skybox_path`), and ``skyboxes/<item>.tres``: a Godot 3
    ``Environment`` with the equirect as its ``PanoramaSky``."""
    files: dict[str, bytes | Path] = {skybox_path(item.id, name): path for name, path in sources["skybox"].items()}
    files[f"skyboxes/{item.id}.tres"] = GODOT_ENVIRONMENT.format(image=f"{item.id}.png").encode()
    return files


def review(card: Any) -> Any:
    """The equirect as a panorama strip, and the six faces as the usual cube-map cross: -X, +Z, +X, -Z
    in a row, +Y above +Z and -Y below it (each face continues into its neighbours there)."""
    files = files_of(card, "skybox")
    if not files:
        return Markup("")
    by_name = {path.removeprefix("skyboxes/").removesuffix(".png").removeprefix(f"{card.item.id}/"): (path, source)
               for path, source in files}
    equirect, _ = by_name.pop(card.item.id)
    strip = Markup('<figure class="image panorama"><img src="{}" alt="{} equirect" class="panorama-strip">'
                   '<figcaption>equirect <small>{}x{} · 360 degrees, wraps</small></figcaption></figure>').format(
        equirect, card.item.id, card.item.size, card.item.size // 2)
    cells = {"py": (1, 2), "nx": (2, 1), "pz": (2, 2), "px": (2, 3), "nz": (2, 4), "ny": (3, 2)}
    cross = Markup("").join(
        Markup('<div class="face" style="grid-row:{};grid-column:{}">{}</div>').format(
            row, column, image(*by_name[face], face, zoom=False))
        for face, (row, column) in cells.items() if face in by_name)
    return strip + Markup('<div class="cube-cross">{}</div>').format(cross)


KIND = Kind(
    name="skybox",
    item=SkyboxItem,
    assets=(Skyboxes(),),
    pack=(PackTarget("skybox", skybox_path),),
    assemble=engine_files,
    models=(SKYBOX_ROLE,),
    summary="360-degree skies: an equirect that wraps, smooth poles, and its six cubemap faces.",
    review=review,
)
