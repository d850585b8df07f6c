"""The full-size kit's sound-effect model: Stable Audio Open 1.0's architecture (the 24-layer DiT, the
Oobleck VAE at 44.1 kHz stereo and a T5-base text encoder, ~1.3 B parameters) with seeded random
weights in float16, over the tiny kit's character-level T5 tokenizer. Built on demand, never by the
tests; its clips are noise. It measures the sfx role's load and memory at real scale."""

from __future__ import annotations

from pathlib import Path

from assetgen_dagster.models.catalog import FullModel

FULL_STABLE_AUDIO_REPO = "assetgen-full/stable-audio-open"


def build_full_stable_audio(target: Path) -> None:
    """diffusers' StableAudioDiTModel and AutoencoderOobleck defaults are Stable Audio Open 1.0's;
    T5-base is 12 layers of 768 with a 32,128-token vocabulary."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    from assetgen_dagster.kinds.audio.tiny import spelling_tokenizer

    torch.manual_seed(0)
    pipe = StableAudioPipeline(
        transformer=StableAudioDiTModel(),
        scheduler=CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                    sigma_schedule="exponential"),
        vae=AutoencoderOobleck(),
        text_encoder=T5EncoderModel(T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12,
                                             num_heads=12)),
        tokenizer=spelling_tokenizer(),
        projection_model=StableAudioProjectionModel(text_encoder_dim=768, conditioning_dim=768, min_value=0,
                                                    max_value=512),
    )
    pipe.to(torch.float16)
    pipe.save_pretrained(target, safe_serialization=True)


FULL_STABLE_AUDIO = FullModel(FULL_STABLE_AUDIO_REPO, build_full_stable_audio)
