"""The full-size kit's text-to-image model: SD-Turbo's real architecture (the SD 2.1 UNet, VAE and
OpenCLIP ViT-H text encoder, ~1.3 B parameters) with seeded random weights, saved as fp16
safetensors. Nothing comes from the hub: it measures memory, speed and the memory modes at real
scale (``bench/full_size.py``); its images are noise. Built on demand, never by the tests."""

from __future__ import annotations

from pathlib import Path

from assetgen_dagster.models.catalog import FullModel
from assetgen_dagster.tiny import clip_tokenizer

FULL_SD_TURBO_REPO = "assetgen-full/sd-turbo"  # not the real repo id: nobody mistakes it for SD-Turbo


def build_full_sd_turbo(target: Path) -> None:
    """``stabilityai/sd-turbo``'s component configs (512 px, Euler, trailing timesteps), random weights."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer()  # byte-level: the real 49,408-token embedding table is still allocated below
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, cross_attention_dim=1024,
        block_out_channels=(320, 640, 1280, 1280), attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=768,
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
        max_position_embeddings=77, hidden_act="gelu", projection_dim=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        prediction_type="epsilon", steps_offset=1, timestep_spacing="trailing")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    for module in (unet, vae, text_encoder):
        module.to(torch.float16)
    pipe.save_pretrained(target, safe_serialization=True, variant="fp16")


FULL_SD_TURBO = FullModel(FULL_SD_TURBO_REPO, build_full_sd_turbo)
