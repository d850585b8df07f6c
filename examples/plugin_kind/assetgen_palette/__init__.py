"""``palette``: a colour palette per item, the dominant colours of an image generated from its prompt.

Everything a kind declares, in one module of its own distribution: the item schema, the asset (what
a request is, how to generate, write, load and check it), where its files go in the pack, how the
review page draws it, and its model role (the real model and the tiny kit's stand-in). The entry
point in pyproject.toml is all assetgen-dagster needs to find it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from assetgen_dagster.batches import ImageItem
from assetgen_dagster.engine import BatchContext, ItemAsset, ItemCheck, ItemOutput, Verdict, fail, ok
from assetgen_dagster.engine.cards import Markup, files_of, image
from assetgen_dagster.kinds import Kind, ModelRole, PackTarget, in_folder
from assetgen_dagster.kinds.images import IMAGE_ALTERNATIVES, SD_TURBO, TINY_TEXT_TO_IMAGE, ImageParams

SWATCH = 16  # pixels per colour in the swatch strip


class PaletteItem(ImageItem):
    """``colours`` dominant colours of an image generated from the prompt (a mood board in one line)."""

    kind: Literal["palette"]
    colours: int = Field(default=5, ge=2, le=16)


@dataclass(frozen=True)
class PaletteRequest:
    """Every input that changes a palette: the image's request and the number of colours."""

    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    colours: int


def distinct_colours(item: PaletteItem, colours: list[str]) -> Verdict:
    """The palette has as many different colours as the item asks for."""
    found = len(set(colours))
    return ok(colours=found) if found == item.colours else fail(f"{found} distinct colours, asked for {item.colours}")


class Palettes(ItemAsset):
    name = "palettes"
    kind = "palette"
    group = "art_direction"
    roles = ("palette",)
    ui_kinds = ("pytorch", "json")
    title = "palettes"
    description = ("Colour palettes: the `colours` dominant colours of an image generated from each `palette` "
                   "item's prompt, as `<item>.json` (hex colours) and a swatch strip `<item>_swatch.png`.")
    checks = (ItemCheck("distinct_colours", "The palette has as many distinct colours as asked.", distinct_colours),)

    def request(self, ctx: BatchContext, item: PaletteItem) -> PaletteRequest:
        params = ctx.generation_params(item, "palette")
        return PaletteRequest(item.prompt, params.get("negative_prompt"), ctx.seed(item), params["steps"],
                              params["guidance"], params["width"], params["height"], item.colours)

    def chunks(self, requests: Sequence[PaletteRequest], batch_size: int) -> list[list[int]]:
        return [[index] for index in range(len(requests))]  # sizes and steps may differ per item

    def generate(self, model: Any, requests: Sequence[PaletteRequest]) -> list[Any]:
        import torch

        [request] = requests
        with torch.inference_mode():
            [picture] = model.pipeline(prompt=request.prompt, negative_prompt=request.negative_prompt,
                                       num_inference_steps=request.steps, guidance_scale=request.guidance,
                                       width=request.width, height=request.height,
                                       generator=torch.Generator("cpu").manual_seed(request.seed)).images
        return [picture]

    def write(self, out: ItemOutput, item: PaletteItem, request: PaletteRequest, raw: Any) -> list[str]:
        from PIL import Image, ImageColor

        quantized = raw.convert("RGB").quantize(colors=request.colours, method=Image.Quantize.MEDIANCUT)
        rgb = quantized.getpalette()[: 3 * request.colours]
        colours = [f"#{rgb[i]:02x}{rgb[i + 1]:02x}{rgb[i + 2]:02x}" for i in range(0, len(rgb), 3)]
        out.write_bytes(json.dumps({"colours": colours, "_provenance": out.provenance}, indent=2).encode(), ".json")
        strip = Image.new("RGB", (SWATCH * len(colours), SWATCH))
        for index, colour in enumerate(colours):
            strip.paste(ImageColor.getrgb(colour), (index * SWATCH, 0, (index + 1) * SWATCH, SWATCH))
        out.write_png(strip, "_swatch.png")
        return colours

    def load(self, out: ItemOutput, item: PaletteItem) -> list[str]:
        return json.loads(out.path(".json").read_text())["colours"]


def review(card: Any) -> Markup:
    """The swatch strip, zoomed, with the hex values."""
    parts = [image(path, source, card.item.id) for path, source in files_of(card, "palettes") if path.endswith(".png")]
    colours = card.entries.get("palettes", {}).get("checks", {}).get("distinct_colours", {}).get("figures", {})
    if colours:
        parts.append(Markup("<p><small>{} colours</small></p>").format(colours.get("colours")))
    return Markup("").join(parts)


KIND = Kind(
    name="palette",
    item=PaletteItem,
    assets=(Palettes(),),
    pack=(PackTarget("palettes", in_folder("palettes")),),
    models=(ModelRole("palette", ImageParams, SD_TURBO, TINY_TEXT_TO_IMAGE, alternatives=IMAGE_ALTERNATIVES),),
    summary="Colour palettes: the dominant colours of an image generated from a prompt.",
    review=review,
)
