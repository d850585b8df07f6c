"""Memory: the device budget, measured model sizes, and the out-of-memory ladder.

The ladder steps a pipeline down, on OOM, through memory modes that trade speed for memory, then
through smaller pipeline batch sizes; only when nothing is left does the call fail.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from assetgen_dagster.models.errors import ModelOutOfMemoryError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Ordered from fastest / hungriest to slowest / leanest. Offload modes only exist on accelerators.
MEMORY_MODES = ("full", "sliced", "model_offload", "sequential_offload")
ACCELERATOR_ONLY_MODES = {"model_offload", "sequential_offload"}
GIB = 1024**3
BYTES_PER_DTYPE = {"float32": 4, "float16": 2, "bfloat16": 2}


def device_total_bytes(device: str) -> int:
    """Total memory of the device: GPU memory for cuda, physical RAM otherwise."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def module_bytes(pipeline: Any) -> int:
    """Parameter + buffer bytes of every torch module of a pipeline (measured, not guessed)."""
    import torch

    modules = [m for m in getattr(pipeline, "components", {}).values() if isinstance(m, torch.nn.Module)]
    if isinstance(pipeline, torch.nn.Module):
        modules.append(pipeline)
    if hasattr(pipeline, "model") and isinstance(pipeline.model, torch.nn.Module):
        modules.append(pipeline.model)  # transformers pipelines
    seen, total = set(), 0
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


STORED_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "BOOL": 1}


def estimate_weights(folder: Path, files: list[str], dtype: str) -> tuple[int, int]:
    """(bytes the weights take in ``dtype``, bytes a load holds beyond them while it converts), from
    the safetensors headers in one pass (no tensor is read).

    The second: weights stored in another dtype (fp16 files run in float32 on a CPU) are read one
    file at a time (a component, or a shard) and that file's stored copy sits beside the converted
    tensors until the next; 0 when none converts. Measured on SD-Turbo's architecture
    (bench/full_size.py): the load, not generation, sets the peak."""
    from safetensors import safe_open

    elements, largest = 0, 0
    for name in files:
        if not name.endswith(".safetensors"):
            continue
        stored, converts = 0, False
        with safe_open(str(folder / name), framework="pt") as handle:
            for key in handle.keys():
                tensor = handle.get_slice(key)
                count = 1
                for dim in tensor.get_shape():
                    count *= dim
                width = STORED_BYTES.get(tensor.get_dtype(), 4)
                elements += count
                stored += count * width
                converts = converts or (tensor.get_dtype().startswith(("F", "BF")) and width != BYTES_PER_DTYPE[dtype])
        if converts:
            largest = max(largest, stored)
    return elements * BYTES_PER_DTYPE[dtype], largest


def estimate_weight_bytes(folder: Path, files: list[str], dtype: str) -> int:
    """Bytes the weights will take in ``dtype`` (see :func:`estimate_weights`)."""
    return estimate_weights(folder, files, dtype)[0]


def estimate_load_transient_bytes(folder: Path, files: list[str], dtype: str) -> int:
    """Bytes a load holds beyond the weights while it converts them (see :func:`estimate_weights`)."""
    return estimate_weights(folder, files, dtype)[1]


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeErrors other backends raise when an allocation fails."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


def available_modes(device: str) -> list[str]:
    accelerator = not device.startswith("cpu")
    return [m for m in MEMORY_MODES if accelerator or m not in ACCELERATOR_ONLY_MODES]


def apply_memory_mode(pipeline: Any, mode: str, device: str) -> None:
    """Put a diffusers pipeline into ``mode`` (modes only ever step down, never back up)."""
    if mode == "full":
        return
    if mode == "sliced":
        if hasattr(pipeline, "enable_attention_slicing"):
            pipeline.enable_attention_slicing()
        vae = getattr(pipeline, "vae", None)
        for method in ("enable_slicing", "enable_tiling"):
            if vae is not None and hasattr(vae, method):
                getattr(vae, method)()
        return
    if hasattr(pipeline, "remove_all_hooks"):
        pipeline.remove_all_hooks()
    if mode == "model_offload":
        pipeline.enable_model_cpu_offload(device=device)
    elif mode == "sequential_offload":
        pipeline.enable_sequential_cpu_offload(device=device)
    else:
        raise ValueError(f"unknown memory mode {mode!r}")


def free_device_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


@dataclass(frozen=True)
class LadderOutcome:
    memory_mode: str
    batch_size_used: int
    steps_down: list[str]


def run_with_memory_ladder(
    pipeline: Any,
    device: str,
    call: Callable[[int], T],
    batch_size: int,
    start_mode: str = "full",
    on_step_down: Callable[[str], None] | None = None,
) -> tuple[T, LadderOutcome]:
    """Run ``call(batch_size)``; on out-of-memory, step down the ladder and try again.

    Modes first (from ``start_mode``), then halving the batch size at the leanest mode. Raises
    :class:`ModelOutOfMemoryError` when even batch size 1 in the leanest mode does not fit.
    """
    modes = available_modes(device)
    position = modes.index(start_mode) if start_mode in modes else 0
    apply_memory_mode(pipeline, modes[position], device)
    steps: list[str] = []
    while True:
        try:
            result = call(batch_size)
            return result, LadderOutcome(modes[position], batch_size, steps)
        except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            free_device_memory(device)
            if position + 1 < len(modes):
                position += 1
                apply_memory_mode(pipeline, modes[position], device)
                step = f"out of memory in mode {modes[position - 1]}: trying {modes[position]}"
            elif batch_size > 1:
                batch_size //= 2
                step = f"out of memory in mode {modes[position]}: trying batch size {batch_size}"
            else:
                raise ModelOutOfMemoryError(
                    f"out of memory on {device} even with {modes[position]} and batch size 1 "
                    f"(tried: {'; '.join(steps) or 'nothing else'}). Use a smaller image size, a "
                    f"smaller model in the catalog, or free the device."
                ) from exc
            steps.append(step)
            log.warning(step)
            if on_step_down:
                on_step_down(step)
