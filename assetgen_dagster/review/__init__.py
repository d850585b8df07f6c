"""The review page of an asset pack: ``asset_pack/index.html``, self-contained (no network).

Every item of the batch is shown as its kind draws it (``Kind.review``, helpers in ``engine/cards.py``):
images at real size and zoomed, textures tiled 3x3 beside their PBR maps, sprites on a
checkerboard beside the atlas, icons at every size, meshes in an interactive 3D viewer
(``@google/model-viewer``, Apache-2.0, shipped in ``vendor/``), each with its check results and
provenance. GLBs are fetched by the viewer, so open the page over HTTP: ``assetgen-dagster review``.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assetgen_dagster.engine import cards
from assetgen_dagster.engine.cards import REVIEW_DIR, ReviewItem, generic_card
from assetgen_dagster.kinds.base import Kind
from assetgen_dagster.outputs import link_or_copy

__all__ = ["PAGE", "REVIEW_DIR", "ReviewItem", "write_review"]

PAGE = "index.html"
VIEWER = "model-viewer.min.js"
VENDOR = Path(__file__).resolve().parent / "vendor"


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("assetgen_dagster.review", "."),
                              autoescape=True, keep_trailing_newline=True)


def write_review(pack_dir: Path, manifest: dict[str, Any], kinds: Sequence[Kind],
                 items: list[ReviewItem]) -> Path:
    """Render ``index.html`` into the (staging) pack folder and copy what it shows into ``review/``."""
    sections = []
    for kind in kinds:
        members = [review for review in items if review.item.kind == kind.name]
        if members:
            draw = kind.review or generic_card
            # drawn before the copies below: cards name the files they show under review/
            sections.append({"kind": kind, "cards": [(review, draw(review), cards.candidates(review),
                                                      cards.references(review)) for review in members],
                             "batch_files": sorted(path for path in manifest["extra_files"]
                                                   if any(t.batch_path(path.rsplit("/", 1)[-1]) == path
                                                          for t in kind.pack))})
    uses_viewer = any("<model-viewer" in str(card) for section in sections for _, card, *_ in section["cards"])
    plays_animations = any('class="sprite-animation' in str(card) for section in sections
                           for _, card, *_ in section["cards"])
    review_dir = pack_dir / REVIEW_DIR
    for review in items:
        for source, name in review.extra.items():
            target = review_dir / name
            if target.exists():  # shown for another item too (a shared reference): names are unique per file
                continue
            if source in review.copied:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            else:
                link_or_copy(source, target)
    if uses_viewer:
        link_or_copy(VENDOR / VIEWER, review_dir / VIEWER)
    html = _environment().get_template("page.html.j2").render(
        manifest=manifest, sections=sections, uses_viewer=uses_viewer, viewer=f"{REVIEW_DIR}/{VIEWER}",
        plays_animations=plays_animations,
        cards=cards, checks_passed=_count_checks(items), engine_checks=engine_checks(manifest))
    path = pack_dir / PAGE
    path.write_text(html, encoding="utf-8")
    return path


# Which real engines and clients read each kind of pack file in this project's CI (on the demo and
# test packs, made by the same code; see README "In an engine"). Shown on the review page.
ENGINE_CHECKS: dict[str, tuple[str, ...]] = {
    ".glb": ("Godot 3.2 (import, one mesh per prop, normals, UVs, texture, convex collision)",
             "Khronos glTF Validator 2.0.0-dev.3.10 (0 errors, 0 warnings)"),
    ".png": ("Godot 3.2 (import at its written size; materials tile)",),
    ".tres": ("Godot 3.2 (SpriteFrames an AnimatedSprite plays through every frame; sky Environments with "
              "their panorama)",),
    ".wav": ("Godot 3.2 (import; music loops, sound effects do not)",),
    ".ogg": ("ffprobe (Vorbis, rate, channels, length; loop comments)",),
    ".csv": ("Godot 3.2 (translation import; every key resolves in every locale)",),
    ".po": ("msgfmt -c (no warnings)",),
}


def engine_checks(manifest: dict[str, Any]) -> list[tuple[str, int, tuple[str, ...]]]:
    """(file type, how many in this pack, the engines and clients CI checks that type with)."""
    counts: dict[str, int] = {}
    paths = [f["path"] for item in manifest["items"] for f in item["files"]] + list(manifest["extra_files"])
    for path in paths:
        suffix = Path(path).suffix
        counts[suffix] = counts.get(suffix, 0) + 1
    return [(suffix, count, ENGINE_CHECKS.get(suffix, ())) for suffix, count in sorted(counts.items())]


def _count_checks(items: list[ReviewItem]) -> tuple[int, int]:
    verdicts = [v for review in items for entry in review.entries.values() for v in entry.get("checks", {}).values()]
    return sum(1 for v in verdicts if v["passed"]), len(verdicts)
