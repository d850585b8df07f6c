"""Text-to-image generation in pipeline batches, one seeded generator per item. No Dagster here."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from assetgen_dagster.engine import runtime_input
from assetgen_dagster.kinds.images.conditioning import AppliedInit, conditioned_call, keep_unmasked
from assetgen_dagster.kinds.images.style import AppliedLora, AppliedReference, apply_loras, apply_reference
from assetgen_dagster.kinds.images.tiling import seamless_tiling


@dataclass(frozen=True)
class ImageRequest:
    """One image to generate; every field that changes the pixels is here."""

    prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    negative_prompt: str | None = None
    tile: str | None = None  # seamless axes ("both", "x", "y") for textures; None = ordinary image
    loras: tuple[AppliedLora, ...] = ()  # the style's adapters and weights (kinds/images/style.py)
    lora_files: Any = runtime_input(())  # (adapter name, weights file) per LoRA: where, not what
    style_reference: AppliedReference | None = None  # the style's reference images and their IP-Adapter
    style_reference_inputs: Any = runtime_input(None)  # the adapter's folder and the images' bytes
    # The image it starts from (img2img) and its mask (inpainting), hashed; the item's own words are its
    # ``init_image``, ``strength`` and ``mask`` options.
    conditioning: AppliedInit | None = None
    conditioning_inputs: Any = runtime_input(None)  # their bytes

    def shape_key(self) -> tuple:
        """Requests with the same key can share one pipeline call: one set of adapters and references,
        and one pipeline (text-to-image, img2img or inpainting) at one strength, per call."""
        shape = (self.conditioning.mode, self.conditioning.strength) if self.conditioning else ()
        return (self.steps, self.guidance, self.width, self.height, self.tile or "", self.loras, self.style_reference,
                shape)


class ShapedRequest(Protocol):
    def shape_key(self) -> Hashable:
        """Requests with the same key can share one pipeline call."""


def plan_chunks(requests: Sequence[ShapedRequest], batch_size: int) -> list[list[int]]:
    """Indices of ``requests`` (images, animations: anything with a ``shape_key``) per pipeline call:
    same-shape requests, in file order, ``batch_size`` at a time.

    Depends only on the requests and the batch size, so a re-run makes exactly the same calls.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    groups: dict[tuple, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.shape_key(), []).append(index)
    chunks = []
    for indices in groups.values():
        chunks.extend(indices[i : i + batch_size] for i in range(0, len(indices), batch_size))
    return chunks


def generate_chunk(pipe: Any, requests: Sequence[ImageRequest]) -> list[Any]:
    """One pipeline call for requests of one shape: a PIL image per request, in order.

    Each item gets its own CPU ``torch.Generator`` seeded with its seed, so its initial noise does not
    depend on which other items share the call, nor on the device.
    """
    import torch

    first = requests[0]
    if any(request.shape_key() != first.shape_key() for request in requests):
        raise ValueError("one pipeline call takes requests of one shape (see plan_chunks)")
    negatives = [request.negative_prompt or "" for request in requests]
    apply_loras(pipe, first.loras, dict(first.lora_files))
    arguments = apply_reference(pipe, first.style_reference, first.style_reference_inputs)
    caller = pipe
    if first.conditioning is None:
        arguments.update(width=first.width, height=first.height)
    else:  # the img2img or inpainting pipeline over the same components (the adapters just applied)
        caller, conditioned = conditioned_call(pipe, first.conditioning, [r.conditioning_inputs for r in requests],
                                               first.width, first.height)
        arguments.update(conditioned)
    with torch.inference_mode(), seamless_tiling(pipe, first.tile):
        result = caller(
            prompt=[request.prompt for request in requests],
            negative_prompt=negatives if any(negatives) else None,
            num_inference_steps=first.steps,
            guidance_scale=first.guidance,
            generator=[torch.Generator("cpu").manual_seed(request.seed) for request in requests],
            output_type="pil",
            **arguments,
        )
    return keep_unmasked(caller, result.images, arguments)


def generate_images(pipe: Any, requests: Sequence[ImageRequest], batch_size: int) -> list[Any]:
    """Every request in pipeline batches of ``batch_size`` (see :func:`plan_chunks`), in request order."""
    images: list[Any] = [None] * len(requests)
    for chunk in plan_chunks(requests, batch_size):
        for index, image in zip(chunk, generate_chunk(pipe, [requests[i] for i in chunk]), strict=True):
            images[index] = image
    return images
