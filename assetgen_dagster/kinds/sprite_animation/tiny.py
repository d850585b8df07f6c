"""The tiny kit's video model: a Wan 2.1-architecture text-to-video pipeline with random weights."""

from __future__ import annotations

from pathlib import Path

from assetgen_dagster.tiny import clip_tokenizer

TINY_VIDEO_REPO = "assetgen-tiny/text-to-video"


def build_tiny_text_to_video(target: Path) -> None:
    """A ``WanPipeline`` (3D causal VAE, video transformer, UMT5 text encoder) small enough to make
    nine 16x16 frames in ~0.05 s on CPU; the tokenizer is the kit's byte-level one (Wan's own is
    UMT5's SentencePiece, which cannot be downloaded here; the pipeline only needs ids).

    Three choices keep its random output usable by what follows (measured through the asset's write
    on 384 frame-count, size, loop and seed combinations: every check passes): the VAE has no
    temporal compression (with Wan's 4x, random weights make frames in groups of four alike and
    jumps between groups, which no real clip has); its last layer is halved, so more of each frame
    lies near the key colour and keys out (at full strength a loop's cross-faded frames could be
    covered edge to edge); and the catalog asks for 16 px frames, scaled up to the item's size, so
    keyed frames are soft blobs with transparent gaps rather than pixel noise with none."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = clip_tokenizer()
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, False, False], scale_factor_temporal=1)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=64,
    )
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8))
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(0.5)
        vae.decoder.conv_out.bias.mul_(0.5)
    pipe.save_pretrained(target, safe_serialization=True)
