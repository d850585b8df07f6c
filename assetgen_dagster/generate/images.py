"""Text-to-image generation in pipeline batches, one seeded generator per item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageRequest:
    """One image to generate; every field that changes the pixels is here."""

    item_id: str
    prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    negative_prompt: str | None = None
    tile: str | None = None  # seamless axes ("both", "x", "y") for textures; None = ordinary image

    def shape_key(self) -> tuple[int, float, int, int, str]:
        """Requests with the same key can share one pipeline call."""
        return (self.steps, self.guidance, self.width, self.height, self.tile or "")


def plan_chunks(requests: Sequence[ImageRequest], batch_size: int) -> list[list[int]]:
    """Indices of ``requests`` per pipeline call: same-shape requests, in file order, ``batch_size`` at a time.

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


def generate_images(
    pipe: Any,
    requests: Sequence[ImageRequest],
    batch_size: int,
    on_progress: Callable[[str], None] | None = None,
) -> list[Any]:
    """Generate one PIL image per request, in request order.

    Each item gets its own CPU ``torch.Generator`` seeded with its seed, so its initial noise does not
    depend on which other items share the call, nor on the device. ``on_progress`` hears about every
    denoising step (callers throttle it).
    """
    import torch

    from assetgen_dagster.generate.textures import seamless_tiling

    images: list[Any] = [None] * len(requests)
    chunks = plan_chunks(requests, batch_size)
    for number, chunk in enumerate(chunks, start=1):
        first = requests[chunk[0]]
        negatives = [requests[i].negative_prompt or "" for i in chunk]
        extra = {}
        if on_progress is not None:
            def report(_pipe, step, _timestep, tensors, number=number, steps=first.steps):
                on_progress(f"pipeline call {number}/{len(chunks)}: step {step + 1}/{steps}")
                return tensors

            extra["callback_on_step_end"] = report
        with torch.inference_mode(), seamless_tiling(pipe, first.tile):
            result = pipe(
                prompt=[requests[i].prompt for i in chunk],
                negative_prompt=negatives if any(negatives) else None,
                num_inference_steps=first.steps,
                guidance_scale=first.guidance,
                width=first.width,
                height=first.height,
                generator=[torch.Generator("cpu").manual_seed(requests[i].seed) for i in chunk],
                output_type="pil",
                **extra,
            )
        for index, image in zip(chunk, result.images, strict=True):
            images[index] = image
    return images
