"""``sfx``: sound effects from a text prompt (Stable Audio Open), trimmed, faded and levelled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from assetgen_dagster.batches import DiffusionItem
from assetgen_dagster.engine import BatchContext
from assetgen_dagster.kinds.audio import (
    AudioAsset,
    AudioFields,
    DiffusionAudioParams,
    audio_review,
    pack_with_import_presets,
    seeded,
    tiny_audio_model,
)
from assetgen_dagster.kinds.audio.checks import audio_checks
from assetgen_dagster.kinds.audio.full import FULL_STABLE_AUDIO
from assetgen_dagster.kinds.audio.tiny import TINY_SFX_REPO, build_tiny_sound_effects
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget, in_folder


class SfxItem(DiffusionItem, AudioFields):
    kind: Literal["sfx"]
    duration: Annotated[float, Field(ge=0.2, le=30.0)] = 1.0  # seconds
    channels: Literal["mono", "stereo"] = "mono"  # mono: positional sounds in a 3D scene


@dataclass(frozen=True)
class SfxRequest:
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance: float
    duration: float
    channels: str
    sample_rate: int
    loudness_lufs: float


def quiet_sde_warnings() -> None:
    """torchsde (Stable Audio's scheduler) warns on every step about float rounding of its grid."""
    import warnings

    warnings.filterwarnings("ignore", message="Should have (ta|tb)>=t0", module="torchsde")


class SoundEffects(AudioAsset):
    name = kind = "sfx"
    roles = ("sfx",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    title = "sound effects"
    code_version = "1"
    checks = audio_checks(duration=True)
    description = (
        "Sound effects: one `<item>.wav` (PCM 16-bit) and `<item>.ogg` (Vorbis) per `sfx` item in "
        "`<output_dir>/<batch>/sfx/`, generated from the prompt at the asked `duration`, resampled to the "
        "item's `sample_rate`, mono or stereo, silence trimmed, 5 ms fades, loudness-normalised to "
        "`loudness_lufs` (peak-normalised under 0.4 s) under a -1 dBFS peak ceiling."
    )

    def request(self, ctx: BatchContext, item: SfxItem) -> SfxRequest:
        params = ctx.generation_params(item, self.roles[0])
        return SfxRequest(item.prompt, item.negative_prompt, ctx.seed(item), params["steps"], params["guidance"],
                          item.duration, item.channels, item.sample_rate, item.loudness_lufs)

    def take(self, pipe: Any, request: SfxRequest) -> tuple[Any, int]:
        quiet_sde_warnings()
        audio = pipe(prompt=request.prompt, negative_prompt=request.negative_prompt, audio_end_in_s=request.duration,
                     num_inference_steps=request.steps, guidance_scale=request.guidance,
                     generator=seeded(request.seed), output_type="np").audios[0]
        return audio, pipe.vae.config.sampling_rate

    def shape(self, item: SfxItem, request: SfxRequest, audio: Any) -> tuple[Any, None]:
        from assetgen_dagster.kinds.audio import dsp

        audio = dsp.to_channels(audio, 1 if item.channels == "mono" else 2)
        return dsp.fade(dsp.trim_silence(audio), item.sample_rate), None


STABLE_AUDIO_OPEN = {
    "repo_id": "stabilityai/stable-audio-open-1.0",
    "revision": "main",
    "pipeline": "StableAudioPipeline",
    "dtype": "float16",
    "params": {"steps": 100, "guidance": 7.0},
    "license": "Stability AI Community License (free below a revenue threshold; gated: accept it on the hub)",
}

PACK = PackTarget("sfx", in_folder("audio/sfx"))

KIND = Kind(
    name="sfx",
    item=SfxItem,
    assets=(SoundEffects(),),
    pack=(PACK,),
    assemble=pack_with_import_presets(PACK),
    models=(ModelRole(
        name="sfx", params=DiffusionAudioParams, default=STABLE_AUDIO_OPEN,
        tiny=tiny_audio_model(TINY_SFX_REPO, build_tiny_sound_effects, "StableAudioPipeline",
                              {"steps": 8, "guidance": 7.0}),
        full=FULL_STABLE_AUDIO,
    ),),
    review=audio_review,
    summary="Sound effects from a prompt: WAV and OGG at the asked duration, loudness-normalised.",
)
