"""``concept_art``: one text-to-image PNG per item, for art direction and as the source of image-to-mesh props."""

from dataclasses import dataclass
from typing import Any, Literal

from assetgen_dagster.engine import ItemCheck, ItemOutput
from assetgen_dagster.kinds.base import Kind, PackTarget, in_folder
from assetgen_dagster.kinds.images import ImageRequest, TextToImageAsset, image_role, load_array, style
from assetgen_dagster.kinds.images.checks import not_blank, not_constant, size_as_asked
from assetgen_dagster.kinds.images.score import IMAGE_SCORE_ROLE
from assetgen_dagster.kinds.images.style import StyledImageItem


class ConceptArtItem(StyledImageItem):
    kind: Literal["concept_art"]


@dataclass(frozen=True)
class Picture:
    """What concept art's checks look at: the pixels and the (width, height) the request asked for."""

    rgb: Any
    asked: tuple[int, int]


class ConceptArt(TextToImageAsset):
    name = kind = "concept_art"
    roles = ("concept_art",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    title = "concept art"
    description = (
        "Concept art: one text-to-image PNG per `concept_art` item of the prompt batch, written to "
        "`<output_dir>/<batch>/concept_art/<item>.png` with provenance in PNG text chunks. Items whose "
        "outputs are current are reused; a backfill covers many batches in one run (one model load)."
    )
    checks = (
        ItemCheck("not_blank", "Not (almost) all black or all white, what a safety checker or a failed decode "
                               "returns.", lambda item, picture: not_blank(picture.rgb), blocking=True),
        ItemCheck("not_constant", "No flat or NaN-derived image.", lambda item, picture: not_constant(picture.rgb),
                  blocking=True),
        ItemCheck("size_as_asked", "Width and height are what the item (or the catalog's default) asked for.",
                  lambda item, picture: size_as_asked(picture.rgb, picture.asked)),
    )

    def write(self, out: ItemOutput, item: ConceptArtItem, request: ImageRequest, raw: Any) -> Picture:
        import numpy as np

        out.write_png(raw)
        return Picture(np.asarray(raw.convert("RGB")), (request.width, request.height))

    def load(self, out: ItemOutput, item: ConceptArtItem) -> Picture:
        return Picture(load_array(out.files[0], "RGB"), (out.provenance["width"], out.provenance["height"]))


KIND = Kind(
    name="concept_art",
    sections=style.SECTION,
    references=style.referenced_images,
    item=ConceptArtItem,
    assets=(ConceptArt(),),
    pack=(PackTarget("concept_art", in_folder("concept_art")),),
    # the candidates' score is declared here, once, and used by every text-to-image kind
    models=(image_role("concept_art"), IMAGE_SCORE_ROLE),
    summary="Concept art: one image per prompt.",
)
