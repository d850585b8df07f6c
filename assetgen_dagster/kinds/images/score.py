"""A prompt-adherence score for image candidates: CLIP's image-text cosine similarity x 100 (the usual
"CLIP score"), through transformers. A hint to sort candidates by and the default pick when the person
has not chosen; never a blocking check. The tiny kit's CLIP has random weights: its scores are real
numbers from the real code path, not a judgement."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assetgen_dagster.models.catalog import ModelParams, ModelRole, TinyModel

TINY_IMAGE_SCORE_REPO = "assetgen-tiny/image-score"


def build_tiny_image_score(target: Path) -> None:
    """A CLIP with one 32-wide layer per tower and 32 px images in 8 px patches, the kit's byte-level
    CLIP tokenizer, and an image processor that resizes to 32 px: what the zero-shot image
    classification pipeline loads (its model, tokenizer and image processor are what scoring uses)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from assetgen_dagster.tiny import clip_tokenizer

    tokenizer = clip_tokenizer()
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
                     "num_attention_heads": 4, "max_position_embeddings": 77, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "image_size": 32, "patch_size": 8},
        projection_dim=32))
    model.save_pretrained(target, safe_serialization=True)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                 crop_size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    processor.save_pretrained(target)
    (target / "README.md").write_text("---\nlicense: other\nlicense_name: random weights built locally; test use only\n"
                                      "---\nThe tiny kit's CLIP for candidate scores (assetgen-dagster).\n")


IMAGE_SCORE_ROLE = ModelRole(
    name="image_score", params=ModelParams, library="transformers",
    default={"repo_id": "openai/clip-vit-base-patch32", "revision": "main",
             "pipeline": "zero-shot-image-classification", "dtype": "float32", "params": {"batch_size": 16},
             "license": "MIT"},
    tiny=TinyModel(repo_id=TINY_IMAGE_SCORE_REPO, build=build_tiny_image_score, entry={
        "revision": "main", "pipeline": "zero-shot-image-classification", "dtype": "float32",
        "params": {"batch_size": 16}, "license": "random weights built locally; test use only"}),
)


def clip_scores(pipeline: Any, prompts: Sequence[str], images: Sequence[Any]) -> list[float]:
    """100 x the cosine similarity of each prompt with its image (PIL), rounded to 0.01; unlike the
    published CLIP score it is not floored at 0, so unrelated candidates still sort."""
    import torch

    model = pipeline.model
    with torch.inference_mode():
        text = pipeline.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt").to(model.device)
        pixels = pipeline.image_processor(images=[image.convert("RGB") for image in images],
                                          return_tensors="pt").to(model.device)
        # transformers 5 returns the tower's output with the projected embedding as its pooler_output
        text_features = _projected(model.get_text_features(**text))
        image_features = _projected(model.get_image_features(pixel_values=pixels["pixel_values"].to(model.dtype)))
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        similarity = (text_features * image_features).sum(dim=-1) * 100  # not floored at 0: it sorts
    return [round(float(value), 2) for value in similarity]


def _projected(output: Any) -> Any:
    """The projected embeddings, from a tensor (transformers 4) or a model output (transformers 5)."""
    return getattr(output, "pooler_output", output)
