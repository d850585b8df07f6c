"""Image-conditioned items: an ``init_image`` the model starts from instead of pure noise (img2img,
as far as ``strength`` lets it: 0 keeps it, 1 ignores it) and a ``mask`` for inpainting (white
repaints, black keeps). The init image is a file in the prompts folder (a sketch, an existing asset)
or ``{item: <id>}``: another item of the same kind in the batch, whose output is made first.

The img2img and inpainting pipelines are built from the loaded text-to-image pipeline's own
components (diffusers' ``AutoPipelineFor*.from_pipe``: no second load, the adapters of the style
stay). After inpainting the unmasked pixels are pasted back from the init image (diffusers'
``apply_overlay``), so what the mask keeps is the init image's pixels exactly, not their VAE round trip.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, field_validator

from assetgen_dagster.batches import ID_RULE, BatchError, ImageItem, Strict, read_referenced, relative_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGE_BYTES = 20_000_000
IMG2IMG_STRENGTH, INPAINT_STRENGTH = 0.6, 1.0  # defaults: keep the init image's layout / repaint the mask fully
ImagePath = Annotated[str, Field(min_length=1, max_length=255)]


def read_image(prompts_dir: Any, name: str) -> bytes:
    """The bytes of an image file a batch names (relative to the prompts folder), checked to open as
    an image; ValueError saying why it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    data = read_referenced(prompts_dir, name, MAX_IMAGE_BYTES)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"is not an image Pillow can read ({type(exc).__name__})") from None
    return data


class FromItem(Strict):
    """``{item: <id>}``: the output of another item of the same kind in the batch."""

    item: Annotated[str, Field(pattern=f"^{ID_RULE}$")]


class ConditionedImageItem(ImageItem):
    """An image item that may start from an image (``init_image``, ``strength``) and repaint only
    what a ``mask`` marks."""

    init_image: ImagePath | FromItem | None = None
    strength: Annotated[float, Field(gt=0.0, le=1.0)] | None = None  # 0.6 for img2img, 1.0 for inpainting
    mask: ImagePath | None = None  # same size as the image after resizing; white = repaint, black = keep

    @field_validator("init_image", "mask")
    @classmethod
    def _images_in_the_prompts_folder(cls, value: Any) -> Any:
        return relative_file(value, IMAGE_SUFFIXES, "an image") if isinstance(value, str) else value

    def batch_problems(self, batch: Any) -> list[tuple[str, str]]:
        problems = list(super().batch_problems(batch))
        if self.init_image is None:
            problems += [(name, "applies to an init_image, which this item does not have")
                         for name in ("strength", "mask") if getattr(self, name) is not None]
        if isinstance(self.init_image, FromItem):
            problem = self._source_problem(batch, self.init_image.item)
            if problem:
                problems.append(("init_image.item", problem))
        return problems

    def _source_problem(self, batch: Any, source_id: str) -> str | None:
        """Why ``source_id`` cannot be this item's init image: missing, another kind, or a cycle."""
        source = batch.item(source_id)
        if source_id == self.id:
            return "an item cannot start from its own output"
        if source is None:
            return f"no item {source_id!r} in the batch"
        if source.kind != self.kind:
            return f"item {source_id!r} is a {source.kind}; an init image comes from an item of the same kind ({self.kind})"
        chain = [self.id, source_id]
        while isinstance(getattr(source, "init_image", None), FromItem):
            source_id = source.init_image.item
            chain.append(source_id)
            if source_id == self.id:
                return f"items made from each other's outputs form a cycle: {' -> '.join(chain)}"
            source = batch.item(source_id)
            if source is None or len(chain) > len(batch.items) + 1:
                return None  # reported on the item that names it
        return None


def init_image_files(items: Iterable[Any]) -> set[str]:
    """The files in the prompts folder the items start from or mask with: part of the batch's content."""
    return {name for item in items for name in (getattr(item, "init_image", None), getattr(item, "mask", None))
            if isinstance(name, str)}


def init_source(item: Any) -> tuple[str, ...]:
    """The id of the item whose output ``item`` starts from, if it starts from one."""
    init = getattr(item, "init_image", None)
    return (init.item,) if isinstance(init, FromItem) else ()


@dataclass(frozen=True)
class AppliedInit:
    """An item's init image (and mask) as its request records them: identity and provenance."""

    file: str | None  # the init image in the prompts folder, or
    item: str | None  # the item whose output it is
    sha256: str  # of the init image's bytes
    strength: float
    mask: str | None = None
    mask_sha256: str | None = None

    @property
    def mode(self) -> str:
        """Which pipeline makes it: ``inpaint`` with a mask, else ``img2img``."""
        return "inpaint" if self.mask is not None else "img2img"


@dataclass(frozen=True)
class InitInputs:
    """The init image's and mask's bytes, as hashed: what a call reads, not identity."""

    image: bytes
    mask: bytes | None


def resolve_init(ctx: Any, asset_name: str, item: Any, steps: int) -> tuple[AppliedInit | None, InitInputs | None]:
    """The item's init image and mask, read and hashed (an item's output through ``asset_name``'s
    manifest, which raises UpstreamMissing or Blocked when it was not made), with its strength; None
    without one. An unusable file or a strength that leaves no denoising step at ``steps`` is a
    :class:`BatchError` naming the file, the item and the field."""
    init = getattr(item, "init_image", None)
    if init is None:
        return None, None

    def refuse(field: str, problem: str) -> BatchError:
        return BatchError(ctx.snapshot.path, [f"item {item.id!r}, field {field!r}: {problem}"])

    strength = item.strength if item.strength is not None else INPAINT_STRENGTH if item.mask else IMG2IMG_STRENGTH
    if int(steps * strength) < 1:  # diffusers denoises int(steps * strength) of the steps
        raise refuse("strength", f"{strength} of {steps} step(s) leaves no denoising step: use at least "
                                 f"{math.ceil(1 / strength)} steps, or a strength of at least {1 / steps:.2f}")
    prompts_dir = ctx.snapshot.path.parent
    mask = mask_sha = None
    if item.mask is not None:
        try:
            mask = read_image(prompts_dir, item.mask)
        except ValueError as exc:
            raise refuse("mask", f"{item.mask}: {exc}") from None
        mask_sha = hashlib.sha256(mask).hexdigest()
    if isinstance(init, FromItem):
        entry, folder = ctx.upstream(asset_name, init.item, item.id)
        name = f"{init.item}.png"
        if name not in entry.get("files", {}):
            raise refuse("init_image.item", f"item {init.item!r} has no {name} to start from")
        data = (folder / name).read_bytes()
        file, source = None, init.item
    else:
        try:
            data = read_image(prompts_dir, init)
        except ValueError as exc:
            raise refuse("init_image", f"{init}: {exc}") from None
        file, source = init, None
    return (AppliedInit(file, source, hashlib.sha256(data).hexdigest(), strength, item.mask, mask_sha),
            InitInputs(data, mask))


def conditioned_call(pipe: Any, init: AppliedInit, inputs: Sequence[InitInputs], width: int,
                     height: int) -> tuple[Any, dict[str, Any]]:
    """The img2img or inpainting pipeline made from ``pipe``'s components and its call's extra
    arguments for these requests' init images (and masks), resized to ``width`` x ``height``."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

    images = [_rgb(data.image, width, height) for data in inputs]
    if init.mode == "img2img":
        return AutoPipelineForImage2Image.from_pipe(pipe), {"image": images, "strength": init.strength}
    masks = [_mask(data.mask, width, height) for data in inputs]
    derived = AutoPipelineForInpainting.from_pipe(pipe)
    return derived, {"image": images, "mask_image": masks, "strength": init.strength, "width": width, "height": height}


def keep_unmasked(pipe: Any, outputs: Sequence[Any], arguments: dict[str, Any]) -> list[Any]:
    """Inpainted ``outputs`` with the pixels their masks keep pasted back from the init images."""
    if "mask_image" not in arguments:
        return list(outputs)
    return [pipe.image_processor.apply_overlay(mask, image, output).convert("RGB")
            for mask, image, output in zip(arguments["mask_image"], arguments["image"], outputs, strict=True)]


def _rgb(data: bytes, width: int, height: int) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)


def _mask(data: bytes, width: int, height: int) -> Any:
    """A mask resized and made binary (the grey edge of a resized mask would be neither kept nor repainted)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L").resize((width, height), Image.Resampling.NEAREST)
    return grey.point(lambda value: 255 if value >= 128 else 0)
