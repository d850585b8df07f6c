"""``sprite``: transparent game sprites, keyed out of a flat background, trimmed, and packed into an atlas."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from assetgen_dagster.engine import BatchContext, ItemCheck, ItemOutput, Verdict, fail, ok
from assetgen_dagster.engine.cards import Markup, files_of, image
from assetgen_dagster.kinds.base import Kind, PackTarget, in_folder
from assetgen_dagster.kinds.images import ImageRequest, KeyedImageAsset, image_role, load_array, style
from assetgen_dagster.kinds.images.checks import has_transparency, not_constant
from assetgen_dagster.kinds.images.style import StyledImageItem

KeyColour = Literal["green", "magenta", "blue"]


class SpriteItem(StyledImageItem):
    """Generated on a flat ``background`` that is keyed out, then trimmed to ``margin`` px."""

    kind: Literal["sprite"]
    background: KeyColour = "green"
    margin: Annotated[int, Field(ge=0, le=64)] = 4


@dataclass(frozen=True)
class SpriteRequest(ImageRequest):
    margin: int = 4


def trimmed(item: SpriteItem, rgba: Any) -> Verdict:
    """Visible content reaches within the item's margin of every edge (no wasted transparent border)."""
    from assetgen_dagster.kinds.images.keying import content_box

    box = content_box(rgba[..., 3])
    if box is None:
        return fail("no visible content")
    left, top, right, bottom = box
    height, width = rgba.shape[:2]
    gaps = {"left": left, "top": top, "right": width - right, "bottom": height - bottom}
    loose = {side: gap for side, gap in gaps.items() if gap > item.margin}
    if loose:
        return fail(f"transparent border wider than margin {item.margin}: {loose}")
    return ok()


class Sprites(KeyedImageAsset):
    name = "sprites"
    kind = "sprite"
    roles = ("sprite",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    title = "sprites"
    batch_files = ("sprites_atlas", "atlas")
    checks = (
        ItemCheck("has_transparency", "Every sprite has visible and fully transparent pixels.",
                  lambda item, rgba: has_transparency(rgba)),
        ItemCheck("trimmed", "No transparent border wider than the item's margin.", trimmed),
        ItemCheck("not_constant", "No flat or NaN-derived image.", lambda item, rgba: not_constant(rgba)),
    )
    description = (
        "Transparent sprites: generated on a flat key background (item `background`), keyed out with "
        "soft, colour-unmixed edges, trimmed to the content plus `margin`. `<output_dir>/<batch>/sprites/"
        "<item>.png`, and the batch's atlas in `sprites_atlas/atlas.png` + `atlas.json` (TexturePacker "
        "JSON-hash layout)."
    )

    def request(self, ctx: BatchContext, item: SpriteItem) -> SpriteRequest:
        return SpriteRequest(**vars(super().request(ctx, item)), margin=item.margin)

    def write(self, out: ItemOutput, item: SpriteItem, request: SpriteRequest, raw: Any) -> Any:
        from assetgen_dagster.kinds.images.keying import trim

        sprite, box = self.keyed(raw, lambda rgba: trim(rgba, request.margin))
        out.write_png(sprite, content_box=list(box))
        return sprite

    def load(self, out: ItemOutput, item: SpriteItem) -> Any:
        return load_array(out.files[0])

    def batch_output(self, ctx: BatchContext, out: ItemOutput, items: list[tuple[Any, ItemOutput]]) -> None:
        """The batch's sprites packed into one power-of-two atlas with a TexturePacker JSON-hash map."""
        from assetgen_dagster.kinds.images.keying import atlas_json, pack_atlas

        atlas, frames = pack_atlas({item.id: load_array(files.files[0]) for item, files in items})
        image = out.write_png(atlas, frames=len(frames))
        layout = atlas_json(frames, image.name, (atlas.shape[1], atlas.shape[0]))
        out.write_bytes((json.dumps(layout, indent=2, sort_keys=True) + "\n").encode(), ".json")


def review(card: Any) -> Any:
    """The sprite on a checkerboard, at real size and zoomed."""

    return Markup("").join(image(path, source, card.item.id, checker=True) for path, source in files_of(card, "sprites"))


KIND = Kind(
    name="sprite",
    sections=style.SECTION,
    references=style.referenced_images,
    item=SpriteItem,
    assets=(Sprites(),),
    pack=(PackTarget("sprites", in_folder("sprites"),
                     batch_files={"atlas.png": "sprites/atlas.png", "atlas.json": "sprites/atlas.json"}),),
    models=(image_role("sprite"),),
    summary="Transparent sprites keyed out of a flat background, trimmed, with a batch atlas.",
    review=review,
)
