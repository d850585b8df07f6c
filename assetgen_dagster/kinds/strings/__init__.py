"""``strings``: hand-written source strings (UI labels, tutorial lines) that are only localized, and
the batch's ``localization`` asset, which translates every text kind's strings into ``locales``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from markupsafe import Markup
from pydantic import Field, field_validator

from assetgen_dagster.batches import ItemBase
from assetgen_dagster.engine import BatchContext, ItemCheck, ItemOutput
from assetgen_dagster.kinds.base import Kind, PackTarget, in_folder
from assetgen_dagster.kinds.strings.localization import Localization
from assetgen_dagster.kinds.text import TextArtifact, TextAsset, text_role
from assetgen_dagster.kinds.text.checks import no_empty_strings
from assetgen_dagster.kinds.text.review import text_card

Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class StringsItem(ItemBase):
    kind: Literal["strings"]
    strings: Annotated[dict[Key, Annotated[str, Field(min_length=1, max_length=2000)]],
                       Field(min_length=1, max_length=500)]

    def batch_problems(self, batch: Any) -> Iterable[tuple[str, str]]:
        if self.variants not in (None, 1):
            yield "variants", "strings are written by hand, not generated: there are no candidates to make"

    @field_validator("strings")
    @classmethod
    def _not_blank(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [key for key, text in value.items() if not text.strip()]
        if blank:
            raise ValueError(f"blank text for {', '.join(blank)}")
        return value


@dataclass(frozen=True)
class StringsRequest:
    strings: tuple[tuple[str, str], ...]


class Strings(TextAsset):
    name = kind = "strings"
    reads_batch_file = True
    title = "source strings"
    ui_kinds = ("json",)
    description = ("Source strings: each `strings` item's hand-written `strings` table as "
                   "`<output_dir>/<batch>/strings/<item>.json`, the source column of the localization.")
    checks = (ItemCheck("no_empty_strings", "No source string is empty.",
                        lambda item, artifact: no_empty_strings(artifact.record["strings"])),)

    def request(self, ctx: BatchContext, item: StringsItem) -> StringsRequest:
        return StringsRequest(tuple(item.strings.items()))

    def generate(self, model: Any, requests: Sequence[StringsRequest]) -> list[Any]:
        return [dict(request.strings) for request in requests]

    def write(self, out: ItemOutput, item: StringsItem, request: StringsRequest, raw: Any) -> TextArtifact:
        return self.write_record(out, {"strings": raw})

    def localizable(self, item_id: str, record: dict[str, Any]) -> dict[str, str]:
        return {f"{item_id}.{key}": text for key, text in record["strings"].items()}


def review_body(record: dict[str, Any]) -> Markup:
    rows = Markup("").join(Markup("<tr><td><code>{}</code></td><td>{}</td></tr>").format(key, text)
                           for key, text in record["strings"].items())
    return Markup('<table class="text strings">{}</table>').format(rows)


def _localization_file(name: str) -> str:
    return f"localization/{name}"  # translations.csv, translations.<locale>.po


KIND = Kind(
    name="strings",
    item=StringsItem,
    assets=(Strings(), Localization()),
    pack=(PackTarget("strings", in_folder("text/strings")),
          PackTarget("localization", in_folder("localization/items"), batch_files=_localization_file)),
    models=(text_role("localization", translation=True),),
    review=text_card(review_body),
    translatable="strings",
    summary="Source strings, and the batch's translations into its locales (Godot CSV, gettext .po).",
)
