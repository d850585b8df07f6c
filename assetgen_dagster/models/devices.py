"""Device detection and the dtype to run a catalog entry with on a given device."""

from __future__ import annotations

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
