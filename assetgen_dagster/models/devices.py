"""Device detection and the dtype to run a catalog entry with on a given device."""

from __future__ import annotations

import os

DTYPES = ("float32", "float16", "bfloat16")


def detect_device(requested: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; anything else is used as given (e.g. ``cuda:1``)."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def dtype_for(device: str, catalog_dtype: str) -> str:
    """The catalog's dtype on accelerators; float32 on CPU, where half precision is slow or unsupported.
    bfloat16 falls back to float16 where the device lacks it."""
    if device.startswith("cpu"):
        return "float32"
    if catalog_dtype == "bfloat16":
        import torch

        if device.startswith("mps") or (device.startswith("cuda") and not torch.cuda.is_bf16_supported()):
            return "float16"
    return catalog_dtype


def device_key(device: str) -> str:
    """The physical device, named the same in every process of this machine (for its lock): cpu,
    mps, or cuda-<id> where id is this process's CUDA_VISIBLE_DEVICES entry for the index (a
    worker pinned to one GPU sees it as cuda:0)."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        return kind
    position = int(index or 0)
    visible = [entry.strip() for entry in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    return f"cuda-{visible[position]}" if position < len(visible) else f"cuda-{position}"
