"""``music``: music cues and seamless loops from a text prompt (ACE-Step 1.5), with WAV loop points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from assetgen_dagster.batches import DiffusionItem, PromptBatch
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
from assetgen_dagster.kinds.audio.tiny import TINY_MUSIC_REPO, build_tiny_music
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget, in_folder

# A loop's take runs this much longer than asked: the crossfade, the search for a zero crossing, spare.
LOOP_EXTRA_SECONDS = 0.5


class MusicItem(DiffusionItem, AudioFields):
    kind: Literal["music"]
    duration: Annotated[float, Field(ge=2.0, le=120.0)] = 30.0  # seconds; a loop is exactly this long
    loop: bool = False
    bpm: Annotated[int, Field(ge=30, le=300)] | None = None

    def batch_problems(self, batch: PromptBatch) -> Iterable[tuple[str, str]]:
        if self.negative_prompt is not None:  # it would be silently ignored
            yield "negative_prompt", "the music model (ACE-Step) takes no negative prompt; say what you want in `prompt`"


@dataclass(frozen=True)
class MusicRequest:
    prompt: str
    seed: int
    steps: int
    guidance: float
    duration: float
    loop: bool
    bpm: int | None
    sample_rate: int
    loudness_lufs: float

    @property
    def take_seconds(self) -> float:
        return self.duration + (LOOP_EXTRA_SECONDS if self.loop else 0.0)


class Music(AudioAsset):
    name = kind = "music"
    roles = ("music",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    title = "music"
    code_version = "1"
    checks = audio_checks(duration=True, loop=True)
    description = (
        "Music cues and loops: `<item>.wav` (PCM 16-bit) and `<item>.ogg` per `music` item in "
        "`<output_dir>/<batch>/music/`, stereo, at the item's `sample_rate` and `bpm`. A `loop: true` item "
        "is generated longer than asked, cut at exactly `duration` on a zero crossing, the continuation "
        "crossfaded into the head (equal power), and its loop points written into the WAV `smpl` chunk "
        "(Godot: loop mode \"Detect From WAV\"). Loudness-normalised to `loudness_lufs`, -1 dBFS ceiling."
    )

    def request(self, ctx: BatchContext, item: MusicItem) -> MusicRequest:
        params = ctx.generation_params(item, self.roles[0])
        return MusicRequest(item.prompt, ctx.seed(item), params["steps"], params["guidance"],
                            item.duration, item.loop, item.bpm, item.sample_rate, item.loudness_lufs)

    def take(self, pipe: Any, request: MusicRequest) -> tuple[Any, int]:
        audio = pipe(prompt=request.prompt, audio_duration=request.take_seconds, bpm=request.bpm,
                     num_inference_steps=request.steps, guidance_scale=request.guidance,
                     generator=seeded(request.seed)).audios[0]
        return audio, pipe.sample_rate

    def shape(self, item: MusicItem, request: MusicRequest, audio: Any) -> tuple[Any, tuple[int, int] | None]:
        from assetgen_dagster.kinds.audio import dsp

        audio = dsp.to_channels(audio, 2)
        if not item.loop:
            return dsp.fade(dsp.trim_silence(audio), item.sample_rate), None
        length = round(item.duration * item.sample_rate)
        loop, _ = dsp.make_loop(audio, item.sample_rate, length)
        return loop, (0, length - 1)


ACE_STEP = {
    "repo_id": "ACE-Step/acestep-v15-xl-turbo-diffusers",
    "revision": "main",
    "pipeline": "AceStepPipeline",
    "dtype": "bfloat16",
    "params": {"steps": 8, "guidance": 1.0},  # turbo: guidance is distilled into the weights
    "license": "MIT",
}

PACK = PackTarget("music", in_folder("audio/music"))

KIND = Kind(
    name="music",
    item=MusicItem,
    assets=(Music(),),
    pack=(PACK,),
    assemble=pack_with_import_presets(PACK),
    models=(ModelRole(
        name="music", params=DiffusionAudioParams, default=ACE_STEP,
        tiny=tiny_audio_model(TINY_MUSIC_REPO, build_tiny_music, "AceStepPipeline", {"steps": 4, "guidance": 1.0}),
        alternatives=("ACE-Step/acestep-v15-base", "ACE-Step/acestep-v15-sft"),
    ),),
    review=audio_review,
    summary="Music cues and seamless loops (WAV smpl loop points), stereo, loudness-normalised.",
)
