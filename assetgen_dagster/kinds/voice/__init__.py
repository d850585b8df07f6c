"""``voice``: spoken lines from text (Dia), levelled like every clip, with a subtitle record per line."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from assetgen_dagster.batches import ItemBase
from assetgen_dagster.engine import BatchContext, ItemOutput
from assetgen_dagster.kinds.audio import (
    AudioArtifact,
    AudioAsset,
    AudioFields,
    audio_review,
    pack_with_import_presets,
    tiny_audio_model,
)
from assetgen_dagster.kinds.audio.checks import audio_checks
from assetgen_dagster.kinds.audio.tiny import TINY_CODEC_REPO, TINY_VOICE_REPO, build_tiny_audio_codec, build_tiny_voice
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget, in_folder
from assetgen_dagster.kinds.text import json_bytes
from assetgen_dagster.models.catalog import ModelParams

# Dia's non-verbal cues, written "(laughs)" before the line.
EMOTIONS = ("laughs", "chuckle", "sighs", "gasps", "coughs", "clears throat", "groans", "sniffs", "screams",
            "inhales", "exhales", "mumbles", "humming", "whistles")
CODEC_FRAMES_PER_SECOND = 44100 / 512  # DAC 44.1 kHz, hop 512: one audio token per channel per frame
CHARS_PER_SECOND = 14.0  # speaking rate used to cap generation for a line


class VoiceItem(ItemBase, AudioFields):
    kind: Literal["voice"]
    text: Annotated[str, Field(min_length=1, max_length=600)]
    voice: Literal["S1", "S2"] = "S1"  # Dia's speakers; a line keeps its speaker's voice within a seed
    emotion: Literal[EMOTIONS] | None = None  # type: ignore[valid-type]

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def brief(self) -> str:
        return self.text  # a line has no prompt: what is said


class VoiceParams(ModelParams):
    """Sampling settings of the TTS model and the longest line it may speak."""

    temperature: Annotated[float, Field(gt=0.0, le=3.0)] = 1.8
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    guidance: Annotated[float, Field(ge=1.0, le=10.0)] = 3.0
    max_seconds: Annotated[float, Field(gt=0.0, le=35.0)] = 20.0


@dataclass(frozen=True)
class VoiceRequest:
    script: str  # what the model reads: "[S1] (sighs) The line."
    seed: int
    temperature: float
    top_p: float
    guidance: float
    max_frames: int
    sample_rate: int
    loudness_lufs: float


def script(item: VoiceItem) -> str:
    cue = f" ({item.emotion})" if item.emotion else ""
    return f"[{item.voice}]{cue} {' '.join(item.text.split())}"


def frame_budget(text: str, max_seconds: float) -> int:
    """Audio frames a line may take: its length at a calm speaking rate plus a second, capped."""
    seconds = min(max_seconds, 1.0 + len(text) / CHARS_PER_SECOND)
    return math.ceil(seconds * CODEC_FRAMES_PER_SECOND)


class VoiceLines(AudioAsset):
    name = kind = "voice"
    roles = ("voice",)
    title = "voice lines"
    code_version = "1"
    checks = audio_checks(duration=False)
    description = (
        "Voice lines: `<item>.wav`, `<item>.ogg` and a subtitle record `<item>.json` (text, speaker, emotion, "
        "duration) per `voice` item in `<output_dir>/<batch>/voice/`, spoken by a TTS model with the "
        "item's speaker (`voice`) and non-verbal cue (`emotion`), mono, silence trimmed, loudness-normalised "
        "to `loudness_lufs`."
    )

    def request(self, ctx: BatchContext, item: VoiceItem) -> VoiceRequest:
        params: VoiceParams = ctx.model_params(self.roles[0])
        return VoiceRequest(script(item), ctx.seed(item), params.temperature, params.top_p, params.guidance,
                            frame_budget(item.text, params.max_seconds), item.sample_rate, item.loudness_lufs)

    def take(self, pipe: Any, request: VoiceRequest) -> tuple[Any, int]:
        import torch

        torch.manual_seed(request.seed)  # the pipeline samples with the global generator
        out = pipe(request.script, generate_kwargs={
            "max_new_tokens": request.max_frames, "do_sample": True, "temperature": request.temperature,
            "top_p": request.top_p, "guidance_scale": request.guidance})
        return out["audio"], out["sampling_rate"]

    def shape(self, item: VoiceItem, request: VoiceRequest, audio: Any) -> tuple[Any, None]:
        from assetgen_dagster.kinds.audio import dsp

        return dsp.fade(dsp.trim_silence(dsp.to_channels(audio, 1)), item.sample_rate), None

    def extra_files(self, out: ItemOutput, item: VoiceItem, request: VoiceRequest, artifact: AudioArtifact) -> None:
        out.write_bytes(json_bytes({"id": item.id, "text": item.text, "voice": item.voice, "emotion": item.emotion,
                                    "seconds": round(artifact.seconds, 3), "_provenance": out.provenance}), ".json")


DIA = {
    "repo_id": "nari-labs/Dia-1.6B-0626",
    "revision": "main",
    "pipeline": "text-to-speech",
    "dtype": "float32",
    "params": {"temperature": 1.8, "top_p": 0.9, "guidance": 3.0, "max_seconds": 20.0},
    "license": "Apache-2.0",
}

KIND = Kind(
    name="voice",
    item=VoiceItem,
    assets=(VoiceLines(),),
    pack=(PackTarget("voice", in_folder("audio/voice")),),
    assemble=pack_with_import_presets("audio/voice"),
    models=(ModelRole(
        name="voice", params=VoiceParams, default=DIA,
        tiny=tiny_audio_model(TINY_VOICE_REPO, build_tiny_voice, "text-to-speech",
                              {"temperature": 1.0, "top_p": 1.0, "guidance": 1.0, "max_seconds": 6.0},
                              companions=((TINY_CODEC_REPO, build_tiny_audio_codec),)),
        companions=("descript/dac_44khz",),  # Dia's processor loads this codec (MIT)
        library="transformers",
    ),),
    review=audio_review,
    summary="Voice lines from text with a speaker and a non-verbal cue, plus a subtitle record per line.",
)
