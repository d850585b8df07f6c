"""The tiny kit's audio models: random-weight Stable Audio, ACE-Step and Dia (with its DAC codec),
built from configs with tokenizers made in code. Their output is noise; the post-processing and the
checks still have real work to do on it. Shapes follow the real models (Oobleck VAE hop 2048 / 1920,
DAC hop 512 with 9 codebooks) at a fraction of the width."""

from __future__ import annotations

from pathlib import Path

TINY_SFX_REPO = "assetgen-tiny/sound-effects"
TINY_MUSIC_REPO = "assetgen-tiny/music"
TINY_VOICE_REPO = "assetgen-tiny/voice"
TINY_CODEC_REPO = "assetgen-tiny/audio-codec"

TINY_SFX_RATE = 16000  # below the items' 44.1/48 kHz on purpose: every clip goes through the resampler
SPELLING = "▁abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"


def spelling_tokenizer():
    """A T5 tokenizer over single characters (Stable Audio's tokenizer, without its 32 k vocabulary file)."""
    from transformers import T5TokenizerFast

    return T5TokenizerFast(vocab=[("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(c, -1.0) for c in SPELLING],
                           extra_ids=0, model_max_length=128)


def build_tiny_sound_effects(target: Path) -> None:
    """StableAudioPipeline: T5 encoder over a character vocabulary, a 1-layer DiT, an Oobleck VAE.
    Its window (240 latents x 2048 / 16 kHz = 30.7 s) covers the longest sound effect (30 s)."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = spelling_tokenizer()
    torch.manual_seed(0)
    pipe = StableAudioPipeline(
        transformer=StableAudioDiTModel(
            sample_size=240, in_channels=8, out_channels=8, num_layers=1, attention_head_dim=8, num_attention_heads=2,
            num_key_value_attention_heads=1, cross_attention_dim=16, time_proj_dim=8, global_states_input_dim=32,
            cross_attention_input_dim=16),
        scheduler=CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                    sigma_schedule="exponential"),
        vae=AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 4, 8, 8], decoder_channels=4,
                               decoder_input_channels=8, audio_channels=2, channel_multiples=[1, 1, 1, 1, 1],
                               sampling_rate=TINY_SFX_RATE),
        text_encoder=T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                             num_heads=2)),
        tokenizer=tokenizer,
        projection_model=StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=16, min_value=0,
                                                    max_value=512),
    )
    pipe.save_pretrained(target, safe_serialization=True)


def build_tiny_music(target: Path) -> None:
    """AceStepPipeline at 48 kHz and 25 latents/s like ACE-Step 1.5: Qwen3 text encoder over a
    byte-level vocabulary, a 1-layer DiT and condition encoder, an Oobleck VAE (hop 1920)."""
    import torch
    from diffusers import AceStepPipeline, AutoencoderOobleck, FlowMatchEulerDiscreteScheduler
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer, Qwen3Config, Qwen3Model

    vocab = {symbol: index for index, symbol in enumerate(sorted(ByteLevel.alphabet()))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token="<|endoftext|>",
                               pad_token="<|endoftext|>")
    attention = dict(num_attention_heads=2, num_key_value_heads=1, head_dim=8, rope_theta=10000.0, sliding_window=16)
    torch.manual_seed(0)
    pipe = AceStepPipeline(
        vae=AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 4, 6, 10], decoder_channels=4,
                               decoder_input_channels=8, audio_channels=2, channel_multiples=[1, 1, 1, 1, 1],
                               sampling_rate=48000),
        text_encoder=Qwen3Model(Qwen3Config(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                            num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                                            vocab_size=len(tokenizer), max_position_embeddings=4096)),
        tokenizer=tokenizer,
        transformer=AceStepTransformer1DModel(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                              in_channels=24, audio_acoustic_hidden_dim=8, patch_size=2, **attention),
        condition_encoder=AceStepConditionEncoder(hidden_size=16, intermediate_size=32, text_hidden_dim=16,
                                                  timbre_hidden_dim=8, num_lyric_encoder_hidden_layers=1,
                                                  num_timbre_encoder_hidden_layers=1, **attention),
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
    )
    pipe.save_pretrained(target, safe_serialization=True)


def _tiny_codec():
    import torch
    from transformers import DacConfig, DacModel

    torch.manual_seed(0)
    codec = DacModel(DacConfig(encoder_hidden_size=4, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=16,
                               n_codebooks=9, codebook_size=1024, codebook_dim=8, sampling_rate=44100))
    codec.name_or_path = codec.config.name_or_path = TINY_CODEC_REPO  # what the voice processor config names
    return codec


def build_tiny_audio_codec(target: Path) -> None:
    """DAC at 44.1 kHz with 9 codebooks (as descript/dac_44khz), a few thousand parameters."""
    _tiny_codec().save_pretrained(target, safe_serialization=True)


def build_tiny_voice(target: Path) -> None:
    """Dia: byte-level text encoder and a 9-channel audio-token decoder (one layer each); its processor
    names the tiny codec repo, as Dia's names descript/dac_44khz."""
    import torch
    from transformers import (
        DiaConfig,
        DiaDecoderConfig,
        DiaEncoderConfig,
        DiaFeatureExtractor,
        DiaForConditionalGeneration,
        DiaProcessor,
        DiaTokenizer,
    )

    torch.manual_seed(0)
    model = DiaForConditionalGeneration(DiaConfig(
        encoder_config=DiaEncoderConfig(max_position_embeddings=1024, num_hidden_layers=1, hidden_size=16,
                                        num_attention_heads=2, num_key_value_heads=2, head_dim=8,
                                        intermediate_size=32, vocab_size=256),
        decoder_config=DiaDecoderConfig(max_position_embeddings=3072, num_hidden_layers=1, hidden_size=16,
                                        intermediate_size=32, num_attention_heads=2, num_key_value_heads=1,
                                        head_dim=8, cross_num_attention_heads=2, cross_head_dim=8,
                                        cross_num_key_value_heads=2, cross_hidden_size=16, vocab_size=1028,
                                        num_channels=9),
        delay_pattern=[0, 8, 9, 10, 11, 12, 13, 14, 15],
    ))
    model.save_pretrained(target, safe_serialization=True)
    processor = DiaProcessor(feature_extractor=DiaFeatureExtractor(sampling_rate=44100, hop_length=512),
                             tokenizer=DiaTokenizer(), audio_tokenizer=_tiny_codec())
    processor.save_pretrained(target)
