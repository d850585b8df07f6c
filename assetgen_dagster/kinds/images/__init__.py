"""What the 2D kinds share: the text-to-image model role, image requests and the generating asset.

Not a kind itself: concept_art, sprite, icon and texture each declare their own model role
(so a studio can point each at a different model) built by :func:`image_role`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from assetgen_dagster.batches import MAX_GUIDANCE, MAX_IMAGE_SIDE, MAX_STEPS, MIN_IMAGE_SIDE
from assetgen_dagster.engine import BatchContext, ItemAsset, ItemOutput, ItemRejected
from assetgen_dagster.kinds.base import ModelRole, TinyModel
from assetgen_dagster.kinds.images import generate as generation
from assetgen_dagster.kinds.images.conditioning import init_source, resolve_init
from assetgen_dagster.kinds.images.full import FULL_SD_TURBO
from assetgen_dagster.kinds.images.generate import ImageRequest
from assetgen_dagster.kinds.images.style import (
    ADAPTER_FILE,
    REPO_ID,
    StyledImageItem,
    resolve_loras,
    resolve_reference,
    style_files,
    style_of,
)
from assetgen_dagster.kinds.images.tiny import (
    IP_ADAPTER_WEIGHTS,
    TINY_IP_ADAPTER_REPO,
    TINY_STYLE_LORA_REPO,
    TINY_TEXT_TO_IMAGE_REPO,
    TINY_TEXTURE_REPO,
    build_tiny_ip_adapter,
    build_tiny_style_lora,
    build_tiny_text_to_image,
    build_tiny_texture,
)
from assetgen_dagster.models.catalog import ModelParams

__all__ = ["FULL_SD_TURBO", "ImageParams", "ImageRequest", "KeyedImageAsset", "TINY_TEXTURE", "TextToImageAsset", "image_role",
           "load_array"]


class ImageParams(ModelParams):
    """Generation defaults of a text-to-image model; a batch's own values win."""

    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 4
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 0.0
    width: Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE, multiple_of=8)] = 512
    height: Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE, multiple_of=8)] = 512
    # The IP-Adapter made for this base model (a batch style's reference images need one): h94/IP-Adapter
    # for SD 1.5 (models/ip-adapter_sd15.safetensors) or SDXL (sdxl_models/ip-adapter_sdxl.safetensors),
    # its image encoder in image_encoder/ beside the weights; none exists for SD 2.1 / SD-Turbo, the
    # default, where a reference is refused.
    ip_adapter: Annotated[str, Field(pattern=REPO_ID)] | None = None
    ip_adapter_weight: Annotated[str, Field(pattern=ADAPTER_FILE)] = IP_ADAPTER_WEIGHTS
    ip_adapter_revision: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "main"


SD_TURBO = {
    "repo_id": "stabilityai/sd-turbo",
    "revision": "main",
    "pipeline": "AutoPipelineForText2Image",
    "dtype": "float16",
    "params": {"steps": 2, "guidance": 0.0, "width": 512, "height": 512, "batch_size": 4},
    "license": "Stability AI Community License (free below a revenue threshold; check the model card)",
}

TINY_IMAGE_ENTRY = {
    "revision": "main",
    "pipeline": "StableDiffusionPipeline",
    "dtype": "float32",
    "params": {"steps": 2, "guidance": 0.0, "width": 64, "height": 64, "batch_size": 4,
               "ip_adapter": TINY_IP_ADAPTER_REPO},
    "license": "random weights built locally; test use only",
}
# The kit's style LoRAs and IP-Adapter fit both tiny pipelines' UNet (one architecture).
_TINY_STYLE = ((TINY_STYLE_LORA_REPO, build_tiny_style_lora), (TINY_IP_ADAPTER_REPO, build_tiny_ip_adapter))
TINY_TEXT_TO_IMAGE = TinyModel(repo_id=TINY_TEXT_TO_IMAGE_REPO, build=build_tiny_text_to_image, entry=TINY_IMAGE_ENTRY,
                               companions=_TINY_STYLE)
# The texture role's stand-in makes spatially smooth images, so a seam (or its absence) is measurable.
TINY_TEXTURE = TinyModel(repo_id=TINY_TEXTURE_REPO, build=build_tiny_texture, entry=TINY_IMAGE_ENTRY,
                         companions=_TINY_STYLE)

# Reviewed text-to-image models a studio may point a 2D role at (on the allow-list).
IMAGE_ALTERNATIVES = (
    "stabilityai/sdxl-turbo",
    "stabilityai/stable-diffusion-xl-base-1.0",
    "black-forest-labs/FLUX.1-schnell",
)
# The IP-Adapters made for those bases (SD 1.5 and SDXL; Apache-2.0), loaded beside them for a style's
# reference images: reviewed, so on the allow-list (data/catalogs/styled_sdxl.yaml names it).
IMAGE_ADAPTERS = ("h94/IP-Adapter",)


def image_role(name: str, tiny: TinyModel = TINY_TEXT_TO_IMAGE) -> ModelRole:
    """A text-to-image model role: SD-Turbo by default, a tiny SD pipeline offline."""
    return ModelRole(name=name, params=ImageParams, default=SD_TURBO, tiny=tiny, alternatives=IMAGE_ALTERNATIVES,
                     companions=IMAGE_ADAPTERS, full=FULL_SD_TURBO)


class TextToImageAsset(ItemAsset):
    """An asset that makes one image per item with its kind's text-to-image role, in pipeline
    batches of same-shape requests. Subclasses adjust the request or post-process in ``write``."""

    group = "images_2d"
    ui_kinds = ("pytorch", "image")
    scorer = "image_score"  # candidates (``variants``) get a CLIP prompt-adherence score

    def score(self, model: Any, candidates: Sequence[tuple[Any, ItemOutput]]) -> list[float]:
        """The CLIP score of each candidate's image against the item's prompt (the person's words)."""
        from assetgen_dagster.kinds.images.score import clip_scores

        images = [self.preview(out, item) for item, out in candidates]
        return clip_scores(model.pipeline, [item.prompt for item, _ in candidates], images)

    def request(self, ctx: BatchContext, item: Any) -> ImageRequest:
        params = ctx.generation_params(item, self.role(item))
        style = style_of(ctx.batch, item) if isinstance(item, StyledImageItem) else None
        loras, lora_files = resolve_loras(ctx.models, ctx.snapshot.path, item, style)
        reference, reference_inputs = resolve_reference(ctx.models, ctx.snapshot.path, item, style, self.role(item), params)
        init, init_inputs = resolve_init(ctx, self.name, item, params["steps"])  # last: may wait for another item
        return ImageRequest(
            prompt=self.prompt(item),
            negative_prompt=params.get("negative_prompt"),
            seed=ctx.seed(item),
            steps=params["steps"],
            guidance=params["guidance"],
            width=params["width"],
            height=params["height"],
            loras=loras,
            lora_files=lora_files,
            style_reference=reference,
            style_reference_inputs=reference_inputs,
            conditioning=init,
            conditioning_inputs=init_inputs,
        )

    def sources(self, item: Any) -> tuple[str, ...]:
        return init_source(item)

    def prompt(self, item: Any) -> str:
        """The prompt sent to the model (sprites and icons ask for a flat key background)."""
        return item.prompt

    def adapter_files(self, requests: Sequence[ImageRequest]) -> list[Any]:
        """The style's LoRA files and IP-Adapters (weights and image encoder) these requests load."""
        return [path for request in requests for path in style_files(request.lora_files, request.style_reference,
                                                                      request.style_reference_inputs)]

    def chunks(self, requests: Sequence[ImageRequest], batch_size: int) -> list[list[int]]:
        return generation.plan_chunks(requests, batch_size)

    def generate(self, model: Any, requests: Sequence[ImageRequest]) -> list[Any]:
        return generation.generate_chunk(model.pipeline, requests)

    def write(self, out: ItemOutput, item: Any, request: ImageRequest, raw: Any) -> Any:
        out.write_png(raw)
        return raw


class KeyedImageAsset(TextToImageAsset):
    """An image generated on the flat key colour the item names (``background``) and keyed out to
    transparency; an image with nothing left after keying is refused, not written."""

    def prompt(self, item: Any) -> str:
        from assetgen_dagster.kinds.images.keying import background_prompt

        return background_prompt(item.prompt, item.background)

    def keyed(self, raw: Any, finish: Any) -> Any:
        """``finish(rgba)`` of the keyed image (trim, square...), or ItemRejected if it is empty."""
        import numpy as np

        from assetgen_dagster.kinds.images.keying import EmptySpriteError, key_out

        try:
            return finish(key_out(np.asarray(raw.convert("RGB"))))
        except EmptySpriteError:
            raise ItemRejected("has_transparency", "empty after keying out the background (nothing was written)") \
                from None


def load_array(path: Any, mode: str = "RGBA") -> Any:
    """A written PNG back as a numpy array (checks over reused items read them from disk)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert(mode))
