"""``sprite_animation``: animated sprites from a text-to-video model, keyed to alpha, anchored, packed into a
sheet with Aseprite JSON and a Godot ``SpriteFrames`` resource."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from assetgen_dagster.batches import ID_RULE, MAX_GUIDANCE, MAX_STEPS, DiffusionItem
from assetgen_dagster.engine import BatchContext, ItemAsset, ItemCheck, ItemOutput, ItemRejected, Verdict, fail, ok
from assetgen_dagster.engine.cards import Markup, files_of
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget, TinyModel, in_folder
from assetgen_dagster.kinds.images import load_array
from assetgen_dagster.kinds.sprite_animation.tiny import TINY_VIDEO_REPO, build_tiny_text_to_video
from assetgen_dagster.models.catalog import ModelParams

MAX_LOOP_RATIO = 1.5  # last-to-first frame change / the median frame-to-frame change
MAX_ANCHOR_DRIFT = 1.0  # px


class SpriteAnimationItem(DiffusionItem):
    """``frames`` frames at ``fps``, ``size`` px wide, the subject keyed out of a flat ``background``
    and held on its ``anchor``; a ``loop`` closes on itself."""

    kind: Literal["sprite_animation"]
    frames: Annotated[int, Field(ge=2, le=32)] = 8
    fps: Annotated[int, Field(ge=1, le=60)] = 12
    loop: bool = True
    size: Annotated[int, Field(ge=16, le=1024)] = 128
    anchor: Literal["bottom-center", "center"] = "bottom-center"
    background: Literal["green", "magenta", "blue"] = "green"
    # The animation's name in the sheet's tag and the SpriteFrames; default: the item id.
    animation: Annotated[str, Field(pattern=rf"^{ID_RULE}$")] | None = None

    def animation_name(self) -> str:
        return self.animation or self.id


class VideoParams(ModelParams):
    """Generation defaults of a text-to-video model; a batch's own values win."""

    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 30
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 5.0
    width: Annotated[int, Field(ge=16, le=1280, multiple_of=16)] = 480  # Wan: multiples of 16
    height: Annotated[int, Field(ge=16, le=1280, multiple_of=16)] = 480


WAN_T2V_1_3B = {
    "repo_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "revision": "main",
    "pipeline": "WanPipeline",
    "dtype": "bfloat16",
    "params": {"steps": 30, "guidance": 5.0, "width": 480, "height": 480, "batch_size": 1},
    "license": "Apache-2.0",
}
TINY_VIDEO = TinyModel(repo_id=TINY_VIDEO_REPO, build=build_tiny_text_to_video, entry={
    "revision": "main",
    "pipeline": "WanPipeline",
    "dtype": "float32",
    "params": {"steps": 2, "guidance": 1.0, "width": 16, "height": 16, "batch_size": 2},
    "license": "random weights built locally; test use only",
})
VIDEO_ROLE = ModelRole(name="sprite_animation", params=VideoParams, default=WAN_T2V_1_3B, tiny=TINY_VIDEO,
                       alternatives=("Wan-AI/Wan2.1-T2V-14B-Diffusers",))


@dataclass(frozen=True)
class AnimationRequest:
    """One animation to generate; every field that changes its files is here."""

    prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    model_frames: int  # what the video model makes (4k + 1 for Wan)
    overlap: int  # frames cross-faded into the start to close a loop
    frames: int
    fps: int
    loop: bool
    size: int
    anchor: str
    animation_name: str  # (the item's `animation` option, or its id)
    negative_prompt: str | None = None

    def shape_key(self) -> tuple[int, float, int, int, int]:
        """Requests with the same key can share one pipeline call."""
        return (self.steps, self.guidance, self.width, self.height, self.model_frames)


@dataclass(frozen=True)
class Animation:
    """What the checks look at: the frames as written on the sheet, and its Aseprite JSON."""

    frames: list[Any]
    layout: dict[str, Any]


def frame_count(item: SpriteAnimationItem, animation: Animation) -> Verdict:
    """The sheet holds exactly ``frames`` frames, as its JSON and its one tag say."""
    from assetgen_dagster.kinds.sprite_animation.frames import rects_from_aseprite

    listed = len(animation.layout["frames"])
    [tag] = animation.layout["meta"]["frameTags"]
    tagged = tag["to"] - tag["from"] + 1
    found = len(animation.frames)
    if not listed == tagged == found == item.frames:
        return fail(f"asked for {item.frames} frames; the JSON lists {listed}, its tag spans {tagged}, the sheet "
                    f"holds {found}", frames=found)
    sizes = {(r.w, r.h) for r in rects_from_aseprite(animation.layout)}
    if len(sizes) != 1:
        return fail(f"frames of different sizes: {sorted(sizes)}", frames=found)
    return ok(frames=found)


def loop_closes(item: SpriteAnimationItem, animation: Animation, max_ratio: float = MAX_LOOP_RATIO) -> Verdict:
    """For a loop: the change from the last frame to the first is no larger than ``max_ratio`` x the
    median frame-to-frame change (the loop does not visibly jump when it restarts)."""
    from assetgen_dagster.kinds.sprite_animation.frames import loop_step_ratio

    if not item.loop:
        return ok(loop=False)
    wrap, typical, ratio = loop_step_ratio(animation.frames)
    figures = {"loop_ratio": round(ratio, 3), "wrap_change": round(wrap, 2), "typical_change": round(typical, 2)}
    if ratio > max_ratio:
        return fail(f"the last frame jumps to the first: change {wrap:.1f} vs typical {typical:.1f} "
                    f"(ratio {ratio:.2f} > {max_ratio})", **figures)
    return ok(**figures)


def anchor_stable(item: SpriteAnimationItem, animation: Animation, max_drift: float = MAX_ANCHOR_DRIFT) -> Verdict:
    """The visible content's anchor (bottom-center: where it stands) moves at most ``max_drift`` px."""
    from assetgen_dagster.kinds.sprite_animation.frames import anchor_drift

    drift = anchor_drift(animation.frames, item.anchor)
    if drift is None:
        return fail("a frame has no visible pixel")
    if drift > max_drift:
        return fail(f"the {item.anchor} anchor moves {drift:.1f} px > {max_drift}", anchor_drift=drift)
    return ok(anchor_drift=drift)


def alpha_coverage(item: SpriteAnimationItem, animation: Animation) -> Verdict:
    """Every frame has visible and fully transparent pixels (as sprites)."""
    from assetgen_dagster.kinds.images.checks import has_transparency

    verdicts = [has_transparency(frame) for frame in animation.frames]
    failed = [f"frame {index}: {verdict.message}" for index, verdict in enumerate(verdicts) if not verdict.passed]
    least = min(verdict.figures["visible_fraction"] for verdict in verdicts)
    return fail("; ".join(failed), min_visible_fraction=least) if failed else ok(min_visible_fraction=least)


class SpriteAnimations(ItemAsset):
    name = "sprite_animations"
    kind = "sprite_animation"
    roles = ("sprite_animation",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    group = "images_2d"
    ui_kinds = ("pytorch", "image")
    title = "sprite animations"
    code_version = "1"
    checks = (
        ItemCheck("frame_count", "The sheet, its JSON and its tag hold exactly `frames` frames of one size.",
                  frame_count, blocking=True),
        ItemCheck("loop_closes", "Loops: the last frame leads into the first no more abruptly than 1.5x the "
                  "median frame-to-frame change.", loop_closes),
        ItemCheck("anchor_stable", "The anchor (bottom-center by default) moves at most 1 px across frames.",
                  anchor_stable),
        ItemCheck("alpha_coverage", "Every frame has visible and fully transparent pixels.", alpha_coverage),
    )
    description = (
        "Animated sprites: a text-to-video model (Wan 2.1 T2V 1.3B by default) makes the frames on a flat key "
        "`background`; every frame is keyed to alpha against its border colour, scaled to `size` px wide and "
        "moved so its `anchor` stays put; a loop's first half is cross-faded with the frames past its end. "
        "`<output_dir>/<batch>/sprite_animations/<item>.png` (the sheet), `<item>.json` (Aseprite JSON) and "
        "`<item>.tres` (a Godot 3 SpriteFrames resource)."
    )

    def request(self, ctx: BatchContext, item: SpriteAnimationItem) -> AnimationRequest:
        from assetgen_dagster.kinds.images.keying import background_prompt
        from assetgen_dagster.kinds.sprite_animation.frames import model_frame_count

        params = ctx.generation_params(item, self.role(item))
        model_frames, overlap = model_frame_count(item.frames, item.loop)
        return AnimationRequest(
            prompt=background_prompt(item.prompt, item.background), negative_prompt=params.get("negative_prompt"),
            seed=ctx.seed(item), steps=params["steps"], guidance=params["guidance"], width=params["width"],
            height=params["height"], model_frames=model_frames, overlap=overlap, frames=item.frames, fps=item.fps,
            loop=item.loop, size=item.size, anchor=item.anchor, animation_name=item.animation_name(),
        )

    def chunks(self, requests: Sequence[AnimationRequest], batch_size: int) -> list[list[int]]:
        from assetgen_dagster.kinds.images.generate import plan_chunks

        return plan_chunks(requests, batch_size)

    def generate(self, model: Any, requests: Sequence[AnimationRequest]) -> list[Any]:
        """One pipeline call for same-shape requests: frames (F x H x W x 3, 0..1) per request, each
        from its own seeded CPU generator."""
        import torch

        first = requests[0]
        negatives = [request.negative_prompt or "" for request in requests]
        with torch.inference_mode():
            result = model.pipeline(
                prompt=[request.prompt for request in requests],
                negative_prompt=negatives if any(negatives) else None,
                num_inference_steps=first.steps, guidance_scale=first.guidance,
                width=first.width, height=first.height, num_frames=first.model_frames,
                generator=[torch.Generator("cpu").manual_seed(request.seed) for request in requests],
                output_type="np",
            )
        return list(result.frames)

    def write(self, out: ItemOutput, item: SpriteAnimationItem, request: AnimationRequest, raw: Any) -> Animation:
        import numpy as np

        from assetgen_dagster.kinds.sprite_animation import frames as anim

        video = np.asarray(raw, dtype=np.float32)
        needed = request.frames + request.overlap
        if video.shape[0] < needed:
            raise ValueError(f"the video model made {video.shape[0]} frames, {needed} needed")
        try:
            keyed = anim.key_frames(anim.last_frames(video, needed))
        except anim.EmptySpriteError as exc:
            raise ItemRejected("alpha_coverage", f"{exc} (nothing was written)") from None
        anchored = anim.align(anim.sized(keyed, request.size), request.anchor)
        frames = anim.close_loop(anchored, request.frames, request.overlap)
        sheet, rects = anim.pack_sheet(frames)
        image = out.write_png(sheet, frames=len(frames), fps=request.fps)
        layout = anim.aseprite_json(rects, request.animation_name, request.fps, request.loop, image.name,
                                    (sheet.shape[1], sheet.shape[0]))
        out.write_bytes((json.dumps(layout, indent=2) + "\n").encode(), ".json")
        tres = anim.godot_sprite_frames(rects, request.animation_name, request.fps, request.loop, image.name)
        out.write_bytes(tres.encode(), ".tres")
        return Animation(frames, layout)

    def load(self, out: ItemOutput, item: SpriteAnimationItem) -> Animation:
        from assetgen_dagster.kinds.sprite_animation.frames import rects_from_aseprite, unpack_sheet

        layout = json.loads(out.path(".json").read_text())
        return Animation(unpack_sheet(load_array(out.path(".png")), rects_from_aseprite(layout)), layout)

    def stats(self, item: SpriteAnimationItem, artifact: Animation) -> dict[str, Any]:
        size = artifact.layout["meta"]["size"]
        return {"frames": len(artifact.frames), "fps": item.fps, "sheet": f"{size['w']}x{size['h']}"}


def review(card: Any) -> Any:
    """The animation playing from its sheet at its fps (a script on the page steps through the JSON's
    frame rectangles), beside the sheet itself."""
    from assetgen_dagster.engine.cards import image, image_size

    files = {path.rsplit(".", 1)[-1]: (path, source) for path, source in files_of(card, "sprite_animations")}
    if "png" not in files or "json" not in files:
        return Markup("")
    (sheet, sheet_source), (_, layout_source) = files["png"], files["json"]
    layout = json.loads(layout_source.read_text())
    first = layout["frames"][0]["frame"]
    scale = max(1, 128 // max(first["w"], first["h"]))
    width, height = image_size(sheet_source)
    rects = [[f["frame"][key] for key in "xywh"] for f in layout["frames"]]
    player = Markup(
        '<figure class="image"><div class="checker" style="width:{w}px;height:{h}px"><div class="sprite-animation '
        'pixelated" data-frames="{rects}" data-duration="{duration}" data-loop="{loop}" data-scale="{scale}" '
        "style=\"width:{w}px;height:{h}px;background-image:url('{sheet}');background-size:{sw}px {sh}px;"
        'background-position:0 0"></div></div><figcaption>{name} <small>{n} frames · {fps} fps{looping}</small>'
        "</figcaption></figure>").format(
        rects=json.dumps(rects), duration=layout["frames"][0]["duration"], loop="true" if card.item.loop else "false",
        scale=scale, w=first["w"] * scale, h=first["h"] * scale, sheet=sheet, sw=width * scale, sh=height * scale,
        name=card.item.animation_name(), n=len(rects), fps=card.item.fps, looping=" · loop" if card.item.loop else "")
    return player + image(sheet, sheet_source, "sheet", checker=True)


KIND = Kind(
    name="sprite_animation",
    item=SpriteAnimationItem,
    assets=(SpriteAnimations(),),
    pack=(PackTarget("sprite_animations", in_folder("sprites/animations")),),
    models=(VIDEO_ROLE,),
    summary="Animated sprites: keyed, anchored frames on a sheet with Aseprite JSON and a Godot SpriteFrames.",
    review=review,
)
