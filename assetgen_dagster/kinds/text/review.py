"""How the review page shows a text item: the words themselves (a reviewer reads them), then links."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from assetgen_dagster.engine.cards import Markup, audio_player, files_of, link

TRANSLATIONS = "localization"  # the asset whose per-item records hold every locale's strings


def text_card(body: Callable[..., Markup], voiced: bool = False) -> Callable[[Any], Markup]:
    """A kind's review card: ``body`` draws the record its own asset wrote, its translations follow
    as a table (key, English, each locale); every file is linked. ``voiced``: the body also gets the
    item's clips (pack path of each OGG by its file stem, a line id) to put a player beside each line."""
    def card(review: Any) -> Markup:
        clips = {path.rsplit("/", 1)[-1].removesuffix(".ogg"): path
                 for asset in review.files for path, _ in files_of(review, asset) if path.endswith(".ogg")}
        parts = []
        for asset in review.files:
            for path, source in files_of(review, asset):
                if path.endswith(".json") and asset in (review.item.kind, TRANSLATIONS):
                    record = json.loads(source.read_text(encoding="utf-8"))
                    if asset != review.item.kind:
                        parts.append(translations(record))
                    else:
                        parts.append(body(record, clips) if voiced else body(record))
                elif path.endswith(".ogg") and not voiced:
                    parts.append(audio_player(path, path.rsplit("/", 1)[-1]))
                parts.append(link(path, path))
        return Markup(" ").join(parts)

    return card


def translations(record: dict[str, Any]) -> Markup:
    """A localization record as a table: one row per key, one column per locale (English first)."""
    locales = [locale for locale in record if not locale.startswith("_")]
    head = Markup("").join(Markup("<th>{}</th>").format(locale) for locale in ["key", *locales])
    rows = Markup("").join(
        Markup("<tr><td><code>{}</code></td>{}</tr>").format(
            key, Markup("").join(Markup("<td>{}</td>").format(record[locale].get(key, "")) for locale in locales))
        for key in record[locales[0]])
    return Markup('<table class="translations"><tr>{}</tr>{}</table>').format(head, rows)
