"""How the review page shows a text item: the words themselves (a reviewer reads them), then links."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup


def text_card(review: Any) -> Markup:
    from assetgen_dagster.review.cards import files_of, link

    parts = []
    for asset in review.files:
        for path, source in files_of(review, asset):
            if path.endswith(".json") and asset in ("item_text", "dialogue", "strings"):
                parts.append(_body(json.loads(source.read_text(encoding="utf-8"))))
            parts.append(link(path, path))
    return Markup(" ").join(parts)


def _body(record: dict[str, Any]) -> Markup:
    if "name" in record:
        return Markup('<div class="text"><b class="name">{}</b><p>{}</p><p><i>{}</i></p></div>').format(
            record["name"], record["description"], record["flavor"])
    if "lines" in record:
        rows = Markup("").join(Markup("<li><b>{}</b>: {} <small>#{}</small></li>").format(
            line["speaker"], line["text"], line["id"]) for line in record["lines"])
        return Markup('<ol class="text lines">{}</ol>').format(rows)
    rows = Markup("").join(Markup("<tr><td><code>{}</code></td><td>{}</td></tr>").format(key, text)
                           for key, text in record["strings"].items())
    return Markup('<table class="text strings">{}</table>').format(rows)
