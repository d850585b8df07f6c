"""``icon``: transparent UI icons, one generation keyed out and downscaled to every requested size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from assetgen_dagster.engine import BatchContext, ItemCheck, ItemOutput, Verdict, fail, ok
from assetgen_dagster.engine.cards import Markup, files_of, image
from assetgen_dagster.engine.preview import side_by_side
from assetgen_dagster.kinds.base import Kind, PackTarget, in_folder
from assetgen_dagster.kinds.images import ImageRequest, KeyedImageAsset, image_role, load_array, style
from assetgen_dagster.kinds.images.checks import has_transparency
from assetgen_dagster.kinds.images.style import StyledImageItem

IconSide = Annotated[int, Field(ge=16, le=1024)]


class IconItem(StyledImageItem):
    """One generation keyed out and downscaled to every size in ``sizes`` (square, power of two)."""

    kind: Literal["icon"]
    background: Literal["green", "magenta", "blue"] = "green"
    sizes: Annotated[list[IconSide], Field(min_length=1, max_length=8)] = [256, 128, 64, 32]

    @field_validator("sizes")
    @classmethod
    def _powers_of_two(cls, sizes: list[int]) -> list[int]:
        if any(size & (size - 1) for size in sizes):
            raise ValueError("every icon size must be a power of two (16..1024)")
        if len(set(sizes)) != len(sizes):
            raise ValueError("icon sizes must be unique")
        return sizes


@dataclass(frozen=True)
class IconRequest(ImageRequest):
    sizes: tuple[int, ...] = ()


def exact_sizes(item: IconItem, icons: dict[int, Any]) -> Verdict:
    """Every requested size exists and is exactly size x size."""
    wrong = [f"{size}: {'missing' if size not in icons else 'x'.join(map(str, icons[size].shape[1::-1]))}"
             for size in item.sizes if size not in icons or icons[size].shape[:2] != (size, size)]
    return fail(", ".join(wrong)) if wrong else ok(sizes=sorted(item.sizes))


class Icons(KeyedImageAsset):
    name = "icons"
    kind = "icon"
    roles = ("icon",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    title = "icons"
    checks = (
        ItemCheck("exact_sizes", "Every requested size exists and is exactly size x size.", exact_sizes),
        ItemCheck("has_transparency", "Every icon has visible and fully transparent pixels.",
                  lambda item, icons: has_transparency(icons[max(item.sizes)])),
    )
    description = (
        "Transparent UI icons: one generation per `icon` item, keyed out, centred on a square and "
        "downscaled (Lanczos, premultiplied alpha) to each of the item's `sizes` (default 256/128/64/32). "
        "`<output_dir>/<batch>/icons/<item>_<size>.png`."
    )

    def request(self, ctx: BatchContext, item: IconItem) -> IconRequest:
        return IconRequest(**vars(super().request(ctx, item)), sizes=tuple(item.sizes))

    def write(self, out: ItemOutput, item: IconItem, request: IconRequest, raw: Any) -> dict[int, Any]:
        from assetgen_dagster.kinds.images.keying import resize_rgba, square

        canvas = self.keyed(raw, square)
        icons = {size: resize_rgba(canvas, size) for size in request.sizes}
        for size, icon in icons.items():
            out.write_png(icon, f"_{size}.png", icon_size=size)
        return icons

    def load(self, out: ItemOutput, item: IconItem) -> dict[int, Any]:
        return {size: load_array(out.path(f"_{size}.png")) for size in item.sizes if out.path(f"_{size}.png").is_file()}

    def preview(self, out: ItemOutput, item: IconItem) -> Any:
        """Every size side by side (on the checkerboard the preview puts under transparency)."""
        from PIL import Image

        return side_by_side([Image.open(out.path(f"_{size}.png")) for size in sorted(item.sizes, reverse=True)])


def review(card: Any) -> Any:
    """Every size at its real size, on a checkerboard."""

    by_size = sorted(files_of(card, "icons"), key=lambda file: -int(Path(file[0]).stem.rsplit("_", 1)[1]))
    return Markup("").join(image(path, source, Path(path).stem, checker=True, zoom=False) for path, source in by_size)


KIND = Kind(
    name="icon",
    sections=style.SECTION,
    references=style.referenced_images,
    item=IconItem,
    assets=(Icons(),),
    pack=(PackTarget("icons", in_folder("icons")),),
    models=(image_role("icon"),),
    summary="UI icons: transparent, square, at every requested size.",
    review=review,
)
