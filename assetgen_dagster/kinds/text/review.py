"""How the review page shows a text item: the words themselves (a reviewer reads them), then links."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from assetgen_dagster.engine.cards import Markup, files_of, link


def text_card(body: Callable[[dict[str, Any]], Markup]) -> Callable[[Any], Markup]:
    """A kind's review card: ``body`` draws the record its own asset wrote; every file is linked."""
    def card(review: Any) -> Markup:
        parts = []
        for asset in review.files:
            for path, source in files_of(review, asset):
                if asset == review.item.kind and path.endswith(".json"):
                    parts.append(body(json.loads(source.read_text(encoding="utf-8"))))
                parts.append(link(path, path))
        return Markup(" ").join(parts)

    return card
