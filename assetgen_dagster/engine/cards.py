"""What a kind draws its items with on the review page: the item's card data (:class:`ReviewItem`)
and HTML pieces (escaped; Markup is safe HTML). The page itself is put together by ``review/``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from assetgen_dagster.batches import file_digest, item_options, referenced_path

REVIEW_DIR = "review"  # inside the pack: the viewer script and files shown only on the page


@dataclass
class ReviewItem:
    """What the page knows about one item: its batch entry, files in the pack, manifest entries."""

    item: Any
    files: dict[str, list[tuple[str, Path]]]  # asset -> the item's files: (path in the pack, source file)
    entries: dict[str, dict[str, Any]]  # asset -> the item's manifest entry (checks, provenance, stats)
    folders: dict[str, Path]  # asset -> its output folder (to copy files shown only on the page)
    missing: str | None = None
    extra: dict[Path, str] = field(default_factory=dict)  # source file -> path under review/ to copy
    # asset -> its candidates of the item (``variants``): (variant, manifest entry), in order
    candidates: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    prompts_dir: Path | None = None  # where the batch's reference files are (style references)
    copied: set[Path] = field(default_factory=set)  # sources of ``extra`` to copy, never hard-link

    def review_file(self, source: Path, name: str, copy: bool = False) -> str:
        """Put ``source`` next to the page as ``review/<name>`` (a hard link; a copy with ``copy``, for
        a file its owner may rewrite in place, such as a reference in the prompts folder) and return
        its path on the page."""
        self.extra[source] = name
        if copy:
            self.copied.add(source)
        return f"{REVIEW_DIR}/{name}"

MIN_SHOWN = 128  # small (tiny-kit) images are enlarged, pixelated, to at least this many pixels


def image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def image(src: str, source: Path, label: str = "", checker: bool = False, zoom: bool = True) -> Markup:
    """The image at its real size and, if it is small, zoomed (pixelated) beside it."""
    width, height = image_size(source)
    factor = max(1, MIN_SHOWN // max(width, height)) if zoom else 1
    cls = "checker" if checker else ""
    real = Markup('<img src="{}" width="{}" height="{}" alt="{}" class="{}">').format(src, width, height, label, cls)
    zoomed = Markup('<img src="{}" width="{}" height="{}" alt="{} zoomed" class="pixelated {}">').format(
        src, width * factor, height * factor, label, cls) if factor > 1 else Markup("")
    caption = Markup("<figcaption>{} <small>{}x{}</small></figcaption>").format(label, width, height)
    return Markup('<figure class="image">{}{}{}</figure>').format(real, zoomed, caption)


def tiled(src: str, source: Path, label: str, times: int = 3) -> Markup:
    """The texture repeated ``times`` x ``times`` (a seam would show as a grid of lines)."""
    width, height = image_size(source)
    factor = max(1, MIN_SHOWN // max(width, height))
    shown_w, shown_h = width * factor, height * factor
    return Markup('<figure class="image"><div class="tiled pixelated" data-tile="{w}x{h}" data-times="{t}" '
                  'style="background-image:url(\'{src}\');background-size:{w}px {h}px;width:{tw}px;height:{th}px">'
                  '</div><figcaption>{label} <small>tiled {t}x{t}</small></figcaption></figure>').format(
        w=shown_w, h=shown_h, t=times, tw=shown_w * times, th=shown_h * times, src=src, label=label)


def viewer(src: str, label: str) -> Markup:
    """An interactive 3D view (orbit, zoom) of a GLB."""
    return Markup('<figure class="model"><model-viewer src="{}" alt="{}" loading="eager" camera-controls auto-rotate '
                  'shadow-intensity="1" exposure="1.1"></model-viewer><figcaption>{}</figcaption></figure>').format(
        src, label, label)


def audio_player(src: str, label: str) -> Markup:
    """A player for an OGG in the pack (loaded when played)."""
    return Markup('<figure class="audio"><audio controls preload="none" src="{}"></audio>'
                  '<figcaption>{}</figcaption></figure>').format(src, label)


def link(src: str, label: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(src, label)


def files_of(review: ReviewItem, asset: str) -> list[tuple[str, Path]]:
    """(path in the pack, source file) of the item's files from ``asset``."""
    return review.files.get(asset, [])


def generic_card(review: ReviewItem) -> Markup:
    """Images as images, GLBs in the viewer, anything else as a link."""
    parts = []
    for asset in review.files:
        for path, source in files_of(review, asset):
            if path.endswith(".png"):
                parts.append(image(path, source, Path(path).name))
            elif path.endswith(".glb"):
                parts.append(viewer(path, Path(path).name))
            else:
                parts.append(link(path, Path(path).name))
    return Markup("").join(parts)


def candidates(review: ReviewItem) -> Markup:
    """Every candidate of an item with ``variants``, the picked one marked: images as thumbnails,
    other files as links (copied next to the page, they are not in the pack)."""
    strips = []
    for asset, variants in review.candidates.items():
        picked = review.entries[asset].get("variant")
        shown = []
        for variant, entry in variants:
            score = f" · score {entry['score']:.1f}" if "score" in entry else ""
            label = f"v{variant}{score}" + (" · picked" if variant == picked else "")
            parts = []
            for name in sorted(entry.get("files", {})):
                source = review.folders[asset] / name
                src = review.review_file(source, f"candidates/{asset}/{Path(name).name}")
                parts.append(image(src, source, label) if name.endswith(".png") else link(src, f"{label}: {Path(name).name}"))
                if name.endswith(".png"):
                    break  # one picture per candidate
            shown.append(Markup('<div class="candidate{}" data-item="{}" data-asset="{}" data-variant="{}">{}</div>').format(
                " picked" if variant == picked else "", review.item.id, asset, variant, Markup("").join(parts)))
        strips.append(Markup('<div class="candidates"><h4>{} candidates</h4>{}</div>').format(asset, Markup("").join(shown)))
    return Markup("").join(strips)


def references(review: ReviewItem) -> Markup:
    """The images the item was made from, from its provenance, beside it: its style's references and
    its init image and mask (files from the prompts folder copied next to the page, another item's
    output linked; none in the pack). One edited since is marked so."""
    if review.prompts_dir is None:
        return Markup("")
    shown: dict[str, list[Markup]] = {"style references": [], "made from": []}
    seen: set[str] = set()
    for asset, entry in review.entries.items():
        recorded = entry.get("provenance") or {}
        for name, sha in (recorded.get("style_reference") or {}).get("images", []):
            if name not in seen:
                seen.add(name)
                shown["style references"].append(_prompts_file(review, name, sha, name))
        init = recorded.get("conditioning") or {}
        if init:  # each asset's own: an entry per asset
            strength = f" (strength {init['strength']})"
            if init.get("file"):
                shown["made from"].append(_prompts_file(review, init["file"], init["sha256"], init["file"] + strength))
            else:
                shown["made from"].append(_item_output(review, asset, init["item"], init["sha256"], strength))
            if init.get("mask"):
                shown["made from"].append(_prompts_file(review, init["mask"], init["mask_sha256"],
                                                        f"mask {init['mask']} (white repainted)"))
    return Markup("").join(
        Markup('<div class="references"><h4>{}</h4>{}</div>').format(title, Markup("").join(parts))
        for title, parts in shown.items() if parts)


def _prompts_file(review: ReviewItem, name: str, sha: str, label: str) -> Markup:
    """A file of the prompts folder the item was made from, copied next to the page."""
    source = referenced_path(review.prompts_dir, name)
    if source is None or not source.is_file():
        return Markup('<p class="reference gone">{}: no longer in the prompts folder</p>').format(name)
    edited = "" if file_digest(review.prompts_dir, name) == sha else " (edited since: a run applies it)"
    src = review.review_file(source, f"references/{sha[:16]}{Path(name).suffix}", copy=True)
    return image(src, source, label + edited)


def _item_output(review: ReviewItem, asset: str, item_id: str, sha: str, note: str) -> Markup:
    """Another item's output the item was made from (its image in the asset's folder, as it is now)."""
    source = review.folders[asset] / f"{item_id}.png"
    if not source.is_file():
        return Markup('<p class="reference gone">item {}: its image is gone</p>').format(item_id)
    changed = "" if hashlib.sha256(source.read_bytes()).hexdigest() == sha else " (changed since: a run follows it)"
    src = review.review_file(source, f"references/{sha[:16]}.png")
    return image(src, source, f"item {item_id}{note}{changed}")


def check_list(review: ReviewItem) -> Markup:
    rows = []
    for asset, entry in review.entries.items():
        if "rejected" in entry:
            rows.append(Markup('<li class="fail">{} refused it: {}</li>').format(asset, entry["rejected"]["reason"]))
        for name, verdict in entry.get("checks", {}).items():
            cls = "pass" if verdict["passed"] else "fail"
            mark = "passed" if verdict["passed"] else f"failed: {verdict.get('message', '')}"
            rows.append(Markup('<li class="{}">{} · {} {}</li>').format(cls, asset, name, mark))
    if review.missing:
        rows.append(Markup('<li class="fail">missing from the pack: {}</li>').format(review.missing))
    return Markup('<ul class="checks">{}</ul>').format(Markup("").join(rows)) if rows else Markup("")


def provenance(review: ReviewItem) -> Markup:
    records = {asset: entry.get("provenance", {}) for asset, entry in review.entries.items()}
    stats = {asset: entry["stats"] for asset, entry in review.entries.items() if "stats" in entry}
    body = json.dumps({"provenance": records, **({"stats": stats} if stats else {})}, indent=2, sort_keys=True)
    return Markup("<details><summary>provenance</summary><pre>{}</pre></details>").format(body)


def prompt_of(review: ReviewItem) -> Markup:
    brief = review.item.brief()
    return Markup('<p class="prompt">{}</p>').format(brief) if brief else Markup("")


def options_of(review: ReviewItem) -> str:
    return ", ".join(f"{key}: {value}" for key, value in item_options(review.item).items())


__all__ = ["REVIEW_DIR", "Markup", "ReviewItem", "candidates", "check_list", "escape", "files_of", "generic_card", "image", "link",
           "options_of", "prompt_of", "provenance", "references", "tiled", "viewer"]
