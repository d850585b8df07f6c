"""Small previews for run metadata: a contact sheet of thumbnails, a few KB."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

MAX_PREVIEW_ITEMS = 16


def contact_sheet(images: Sequence[Any], thumb: int = 48, columns: int = 4) -> Any:
    """A grid of up to ``MAX_PREVIEW_ITEMS`` thumbnails (``thumb`` px on the long side), as a PIL image.
    Takes PIL images or numpy arrays."""
    from PIL import Image

    shown = list(images)[:MAX_PREVIEW_ITEMS]
    if not shown:
        raise ValueError("contact_sheet needs at least one image")
    columns = min(columns, len(shown))
    rows = -(-len(shown) // columns)
    sheet = Image.new("RGB", (columns * thumb, rows * thumb), (32, 32, 32))
    for index, image in enumerate(shown):
        small = (image if isinstance(image, Image.Image) else Image.fromarray(image)).convert("RGB")
        small.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
        x = (index % columns) * thumb + (thumb - small.width) // 2
        y = (index // columns) * thumb + (thumb - small.height) // 2
        sheet.paste(small, (x, y))
    return sheet


def preview_markdown(images: Sequence[Any], title: str) -> str:
    """Markdown with the contact sheet inlined as a JPEG data URI, for Dagster's metadata panel."""
    buffer = io.BytesIO()
    contact_sheet(images).save(buffer, format="JPEG", quality=60)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"![{title}](data:image/jpeg;base64,{encoded})"
