"""``concept_art``: one text-to-image PNG per item, for art direction and as the source of image-to-mesh props."""

from typing import Literal

from assetgen_dagster.batches import ImageItem
from assetgen_dagster.kinds.base import Kind, PackTarget, in_folder
from assetgen_dagster.kinds.images import TextToImageAsset, image_role


class ConceptArtItem(ImageItem):
    kind: Literal["concept_art"]


class ConceptArt(TextToImageAsset):
    name = kind = "concept_art"
    roles = ("concept_art",)
    title = "concept art"
    description = (
        "Concept art: one text-to-image PNG per `concept_art` item of the prompt batch, written to "
        "`<output_dir>/<batch>/concept_art/<item>.png` with provenance in PNG text chunks. Items whose "
        "outputs are current are reused; a backfill covers many batches in one run (one model load)."
    )


KIND = Kind(
    name="concept_art",
    item=ConceptArtItem,
    assets=(ConceptArt(),),
    pack=(PackTarget("concept_art", in_folder("concept_art")),),
    models=(image_role("concept_art"),),
    summary="Concept art: one image per prompt.",
)
