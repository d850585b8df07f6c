"""What the text kinds share: the instruct-LLM model roles, constrained generation, placeholders.

Not a kind itself: item_text, dialogue and strings (with its localization asset) each declare their
own role, so a studio can point each at a different model; offline they share one tiny LM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from assetgen_dagster.engine import ItemAsset, ItemOutput
from assetgen_dagster.kinds.base import ModelRole, TinyModel
from assetgen_dagster.kinds.text.full import FULL_SMOLLM2
from assetgen_dagster.kinds.text.tiny import TINY_TEXT_REPO, build_tiny_text_llm
from assetgen_dagster.models.catalog import ModelParams

__all__ = ["TextArtifact", "TextAsset", "TextParams", "json_bytes", "read_json", "text_role", "text_stats", "tidy"]


class TextParams(ModelParams):
    """Generation settings of an instruct LLM; outputs are sampled with the item's seed."""

    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.7
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9


SMOLLM2 = {
    "repo_id": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "revision": "main",
    "pipeline": "text-generation",
    "dtype": "bfloat16",
    "params": {"temperature": 0.7, "top_p": 0.9},
    "license": "Apache-2.0",
}
QWEN25 = {  # multilingual: the translation default
    "repo_id": "Qwen/Qwen2.5-1.5B-Instruct",
    "revision": "main",
    "pipeline": "text-generation",
    "dtype": "bfloat16",
    "params": {"temperature": 0.3, "top_p": 0.9},
    "license": "Apache-2.0",
}
TINY_TEXT = TinyModel(
    repo_id=TINY_TEXT_REPO,
    build=build_tiny_text_llm,
    entry={"revision": "main", "pipeline": "text-generation", "dtype": "float32",
           "params": {"temperature": 1.0, "top_p": 1.0}, "license": "random weights built locally; test use only"},
)
# Reviewed instruct models with a commercial-use license (Qwen2.5-3B is not: research license).
TEXT_ALTERNATIVES = ("HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct",
                     "HuggingFaceTB/SmolLM2-1.7B-Instruct")


def text_role(name: str, translation: bool = False) -> ModelRole:
    """An instruct-LLM role: SmolLM2-1.7B-Instruct (Qwen2.5-1.5B-Instruct to translate), the tiny LM offline."""
    return ModelRole(name=name, params=TextParams, default=QWEN25 if translation else SMOLLM2, tiny=TINY_TEXT,
                     alternatives=TEXT_ALTERNATIVES, library="transformers", full=None if translation else FULL_SMOLLM2)


def tidy(text: str) -> str:
    """One line, single spaces, no leading or trailing space: how a game string is stored. (The
    enforcer counts a string's leading space outside its maxLength, so this also keeps the budget.)"""
    return " ".join(text.split())


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def read_json(path: Any) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass
class TextArtifact:
    """One item's record and what generating it cost (zeros when read back from disk)."""

    record: dict[str, Any]
    tokens: int = 0
    seconds: float = 0.0
    constraint_seconds: float = 0.0
    yarn: Any = None  # a dialogue's .yarn file, which its check reads back


def text_stats(artifact: TextArtifact) -> dict[str, Any] | None:
    """Tokens, tokens/s and the share of generation spent in the JSON/regex constraint."""
    if not artifact.tokens:
        return None
    return {"tokens": artifact.tokens, "tokens_per_s": round(artifact.tokens / max(artifact.seconds, 1e-9), 1),
            "seconds": round(artifact.seconds, 3),
            "constraint_share": round(artifact.constraint_seconds / max(artifact.seconds, 1e-9), 3)}


class TextAsset(ItemAsset):
    """A text kind's asset: one JSON record per item (provenance under ``_provenance``), the
    generation's tokens/s in the manifest stats, no image preview."""

    group = "narrative"

    def write_record(self, out: ItemOutput, record: dict[str, Any], costs: Any = ()) -> TextArtifact:
        out.write_bytes(json_bytes({**record, "_provenance": out.provenance}), ".json")
        return TextArtifact(record, sum(c.tokens for c in costs), sum(c.seconds for c in costs),
                            sum(c.constraint_seconds for c in costs))

    def load(self, out: ItemOutput, item: Any) -> TextArtifact:
        record = read_json(out.path(".json"))
        record.pop("_provenance", None)
        return TextArtifact(record)

    def stats(self, item: Any, artifact: TextArtifact) -> dict[str, Any] | None:
        return text_stats(artifact)

    def preview(self, out: ItemOutput, item: Any) -> Any:
        return None

    def localizable(self, item_id: str, record: dict[str, Any]) -> dict[str, str]:
        """Translation key -> English text of one item's record (keys as the game looks them up)."""
        raise NotImplementedError(f"{self.name} has no strings to localize")
