"""The review page of an asset pack: ``asset_pack/index.html``, self-contained (no network).

Every item of the batch is shown as its kind draws it (``Kind.review``, helpers in ``cards.py``):
images at real size and zoomed, textures tiled 3x3 beside their PBR maps, sprites on a
checkerboard beside the atlas, icons at every size, meshes in an interactive 3D viewer
(``@google/model-viewer``, Apache-2.0, shipped in ``vendor/``), each with its check results and
provenance. GLBs are fetched by the viewer, so open the page over HTTP: ``assetgen-dagster review``.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assetgen_dagster.kinds.base import Kind

PAGE = "index.html"
REVIEW_DIR = "review"  # inside the pack: the viewer script and files shown only on the page
VIEWER = "model-viewer.min.js"
VENDOR = Path(__file__).resolve().parent / "vendor"


@dataclass
class ReviewItem:
    """What the page knows about one item: its batch entry, files in the pack, manifest entries."""

    item: Any
    files: dict[str, list[tuple[str, Path]]]  # asset -> the item's files: (path in the pack, source file)
    entries: dict[str, dict[str, Any]]  # asset -> the item's manifest entry (checks, provenance, stats)
    folders: dict[str, Path]  # asset -> its output folder (to copy files shown only on the page)
    missing: str | None = None
    extra: dict[Path, str] = field(default_factory=dict)  # source file -> path under review/ to copy

    def review_file(self, source: Path, name: str) -> str:
        """Copy ``source`` next to the page as ``review/<name>`` and return its path on the page."""
        self.extra[source] = name
        return f"{REVIEW_DIR}/{name}"


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("assetgen_dagster.review", "."),
                              autoescape=True, keep_trailing_newline=True)


def write_review(pack_dir: Path, manifest: dict[str, Any], kinds: tuple[Kind, ...],
                 items: list[ReviewItem]) -> Path:
    """Render ``index.html`` into the (staging) pack folder and copy what it shows into ``review/``."""
    from assetgen_dagster.review.cards import generic_card

    sections = []
    for kind in kinds:
        members = [review for review in items if review.item.kind == kind.name]
        if members:
            draw = kind.review or generic_card
            sections.append({"kind": kind, "cards": [(review, draw(review)) for review in members],
                             "batch_files": sorted(path for path in manifest["extra_files"]
                                                   if any(t.batch_path(path.rsplit("/", 1)[-1]) == path
                                                          for t in kind.pack))})
    uses_viewer = any("<model-viewer" in str(card) for section in sections for _, card in section["cards"])
    review_dir = pack_dir / REVIEW_DIR
    for review in items:
        for source, name in review.extra.items():
            _link_or_copy(source, review_dir / name)
    if uses_viewer:
        _link_or_copy(VENDOR / VIEWER, review_dir / VIEWER)
    from assetgen_dagster.review import cards

    html = _environment().get_template("page.html.j2").render(
        manifest=manifest, sections=sections, uses_viewer=uses_viewer, viewer=f"{REVIEW_DIR}/{VIEWER}",
        cards=cards, checks_passed=_count_checks(items))
    path = pack_dir / PAGE
    path.write_text(html, encoding="utf-8")
    return path


def _count_checks(items: list[ReviewItem]) -> tuple[int, int]:
    verdicts = [v for review in items for entry in review.entries.values() for v in entry.get("checks", {}).values()]
    return sum(1 for v in verdicts if v["passed"]), len(verdicts)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
