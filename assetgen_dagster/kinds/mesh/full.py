"""The full-size kit's text-to-3D model: openai/shap-e's architecture (a 24-layer prior transformer
over 1024 latents of 1024, the STF renderer and a CLIP ViT-L/14 text encoder with projection, ~0.5 B
parameters) with seeded random weights in float16, over the tiny kit's CLIP tokenizer, with the
marching-cubes table filled as the tiny kit fills it. Built on demand, never by the tests; its field
is random, so its meshes are scattered pieces. It measures the mesh role's load and memory at real scale."""

from __future__ import annotations

from pathlib import Path

from assetgen_dagster.models.catalog import FullModel

FULL_SHAP_E_REPO = "assetgen-full/shap-e"


def build_full_shap_e(target: Path) -> None:
    """Shap-E's prior config (clip_embed_dim 2048 = 2 x 1024, time embedding 4096, no additional
    embeddings) and diffusers' ShapERenderer defaults, which are Shap-E's."""
    import torch
    from diffusers import PriorTransformer, ShapEPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from assetgen_dagster.kinds.mesh.marching_cubes import marching_cubes_table
    from assetgen_dagster.kinds.mesh.tiny import shap_e_scheduler
    from assetgen_dagster.tiny import clip_tokenizer

    tokenizer = clip_tokenizer()
    torch.manual_seed(0)
    prior = PriorTransformer(
        num_attention_heads=16, attention_head_dim=64, num_layers=24, embedding_dim=1024, num_embeddings=1024,
        embedding_proj_dim=768, time_embed_dim=4096, clip_embed_dim=2048, additional_embeddings=0,
        time_embed_act_fn="gelu", norm_in_type="layer", encoder_hid_proj_type=None, added_emb_type=None,
    )
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        projection_dim=768, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    renderer = ShapERenderer()
    cases, masks = marching_cubes_table()
    renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
    renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))
    pipe = ShapEPipeline(prior=prior, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=shap_e_scheduler(),
                         shap_e_renderer=renderer)
    pipe.to(torch.float16)
    pipe.save_pretrained(target, safe_serialization=True)


FULL_SHAP_E = FullModel(FULL_SHAP_E_REPO, build_full_shap_e)
