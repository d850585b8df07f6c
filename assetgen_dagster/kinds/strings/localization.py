"""``localization``: every string of a batch's text kinds translated into the batch's ``locales``,
with placeholders kept exactly; written per item as JSON and per batch as a Godot translation CSV
and a gettext .po per locale. It covers every registered kind that declares a ``translatable``
asset (item texts, dialogue, source strings, and any plugin kind that does)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assetgen_dagster.engine import (
    BatchContext,
    ItemCheck,
    ItemOutput,
    KindRegistry,
    Relations,
    Verdict,
    fail,
    ok,
    runtime_input,
)
from assetgen_dagster.kinds.text import TextArtifact, TextAsset, TextParams, constrained, read_json
from assetgen_dagster.kinds.text.checks import no_empty_strings
from assetgen_dagster.kinds.text.placeholders import placeholders, restore, to_model, translation_pattern

SOURCE_LOCALE = "en"


@dataclass(frozen=True)
class LocalizationRequest:
    kind: str
    item_id: str
    source: str  # the upstream file (relative to the output directory) and its content hash
    source_sha256: str
    locales: tuple[str, ...]
    seed: int
    temperature: float
    top_p: float
    source_path: Path = runtime_input()
    # The source asset's ``localizable``: translation key -> English text of the item's record.
    strings_of: Callable[[str, dict[str, Any]], dict[str, str]] | None = runtime_input()


def _all_translations(artifact: TextArtifact) -> dict[str, dict[str, str]]:
    return {locale: texts for locale, texts in artifact.record.items() if locale != SOURCE_LOCALE}


def placeholders_preserved(item: Any, artifact: TextArtifact) -> Verdict:
    source = artifact.record[SOURCE_LOCALE]
    broken = [f"{locale}:{key}" for locale, texts in _all_translations(artifact).items() for key, text in texts.items()
              if placeholders(text) != placeholders(source[key])]
    if broken:
        return fail("placeholders lost or changed in " + ", ".join(broken[:10]), broken=len(broken))
    return ok(strings=len(source), locales=len(artifact.record) - 1)


def _every_string(artifact: TextArtifact) -> dict[str, str]:
    return {f"{locale}:{key}": text for locale, texts in artifact.record.items() for key, text in texts.items()}


class Localization(TextAsset):
    name = "localization"
    kind = "strings"
    roles = ("localization",)
    title = "translations"
    ui_kinds = ("csv", "po", "llm")
    batch_files = ("localization", "translations")
    description = (
        "Localization: every string of the batch's text items (every kind that declares translatable text: "
        "item_text, dialogue, strings...) translated into "
        "the batch's `locales` by an instruct LLM whose output is constrained to keep every placeholder "
        "({player}, %s, %d, [b]...[/b], \\n) exactly and in order. Per item `<item>.json`; per batch a Godot "
        "translation CSV (`keys,en,<locales>`, UTF-8, no BOM) and a gettext `<locale>.po`."
    )
    checks = (
        ItemCheck("placeholders_preserved", "Every translation has the source string's placeholders, in order.",
                  placeholders_preserved),
        ItemCheck("no_empty_strings", "No source string or translation is empty.",
                  lambda item, artifact: no_empty_strings(_every_string(artifact))),
    )

    def relations(self, registry: KindRegistry) -> Relations:
        """Every kind that declares translatable text, and the assets holding it."""
        sources = registry.translatable
        return Relations(tuple(sources), tuple(asset.name for asset in sources.values()))

    def request(self, ctx: BatchContext, item: Any) -> LocalizationRequest:
        source = ctx.registry.translatable[item.kind]
        path, sha256 = ctx.upstream_file(source.name, item.id, item.id, suffix=".json")  # dialogue: not .yarn
        params: TextParams = ctx.model_params(self.roles[0])
        return LocalizationRequest(item.kind, item.id, path, sha256, tuple(ctx.batch.locales), ctx.seed(item),
                                   params.temperature, params.top_p, ctx.absolute(path), source.localizable)

    def generate(self, model: Any, requests: Sequence[LocalizationRequest]) -> list[Any]:
        outputs = []
        for request in requests:
            source = request.strings_of(request.item_id, read_json(request.source_path))
            result: dict[str, dict[str, str]] = {SOURCE_LOCALE: source}
            costs = []
            for locale in request.locales:
                result[locale] = {}
                for key, text in source.items():
                    seed = request.seed ^ int.from_bytes(hashlib.sha256(f"{locale}/{key}".encode()).digest()[:4], "big")
                    modelled = to_model(text)
                    messages = [{"role": "system", "content": "You translate video game text. Keep every placeholder "
                                                              "such as {name}, %s, %d, [b] and \\n exactly."},
                                {"role": "user", "content": f"Translate from English to {locale}:\n{modelled}"}]
                    translated = constrained.generate(model.pipeline, messages, seed, 2 * max(len(text), 16) + 16,
                                                      request.temperature, request.top_p,
                                                      pattern=translation_pattern(modelled, max(len(text) * 2, 32)))
                    result[locale][key] = restore(translated.text, text)
                    costs.append(translated)
            outputs.append((result, costs))
        return outputs

    def write(self, out: ItemOutput, item: Any, request: LocalizationRequest, raw: Any) -> TextArtifact:
        record, costs = raw
        return self.write_record(out, record, costs)

    def batch_output(self, ctx: BatchContext, out: ItemOutput, items: list[tuple[Any, ItemOutput]]) -> None:
        """The batch's translation table: Godot CSV (keys,en,fr,...) and one .po per locale."""
        import polib

        locales = list(ctx.batch.locales)
        rows: dict[str, dict[str, str]] = {}
        for _item, item_out in items:
            record = read_json(item_out.path(".json"))
            for key, text in record[SOURCE_LOCALE].items():
                rows[key] = {SOURCE_LOCALE: text, **{locale: record.get(locale, {}).get(key, "") for locale in locales}}
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["keys", SOURCE_LOCALE, *locales])
        for key in sorted(rows):
            writer.writerow([key, rows[key][SOURCE_LOCALE], *(rows[key][locale] for locale in locales)])
        out.write_bytes(table.getvalue().encode("utf-8"), ".csv")  # no BOM: Godot reads plain UTF-8
        for locale in locales:
            po = polib.POFile(wrapwidth=0)
            for key in sorted(rows):
                po.append(polib.POEntry(msgctxt=key, msgid=rows[key][SOURCE_LOCALE], msgstr=rows[key][locale]))
            path = out.path(f".{locale}.po")
            po.metadata = po_header(ctx.batch_id, locale, revised=revision_date(path, po))
            out.write_bytes(str(po).encode("utf-8"), f".{locale}.po")


# ---------------------------------------------------------------------------------------------
# gettext headers

DEFAULT_PLURAL_FORMS = "nplurals=2; plural=(n != 1);"  # gettext's own default, for a language CLDR lacks


def plural_forms(locale: str) -> str:
    """The ``Plural-Forms`` header of ``locale`` from CLDR's rules (Babel)."""
    from babel.core import UnknownLocaleError
    from babel.messages.plurals import get_plural

    try:
        return get_plural(locale).plural_forms
    except (UnknownLocaleError, ValueError):
        return DEFAULT_PLURAL_FORMS


def po_header(batch_id: str, locale: str, revised: str) -> dict[str, str]:
    """Every header field ``msgfmt -c`` checks, so translation tools and Godot read the file as is."""
    return {
        "Project-Id-Version": batch_id,
        "PO-Revision-Date": revised,
        "Last-Translator": "assetgen-dagster machine translation <noreply@localhost>",
        "Language-Team": f"{locale} <noreply@localhost>",
        "Language": locale,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": plural_forms(locale),
        "X-Generator": "assetgen-dagster",
    }


def revision_date(path: Path, po: Any) -> str:
    """When the translations last changed: the date already in ``path`` when it holds the same
    entries (a rerun writes the same bytes), else now."""
    import datetime

    import polib

    if path.is_file():
        try:
            before = polib.pofile(str(path))
        except (OSError, ValueError):
            before = None
        same = before is not None and [(e.msgctxt, e.msgid, e.msgstr) for e in before] == [
            (e.msgctxt, e.msgid, e.msgstr) for e in po]
        if same and before.metadata.get("PO-Revision-Date"):
            return before.metadata["PO-Revision-Date"]
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M+0000")
