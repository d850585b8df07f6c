"""``voice``: spoken lines in a character's voice (Dia, with the cast's reference clips as audio
prompts), levelled like every clip, each heard back by a speech recognizer (Whisper) that writes
word-timed subtitles and fails a line that does not say its text; and voiced dialogue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from assetgen_dagster.batches import ItemBase
from assetgen_dagster.engine import BatchContext
from assetgen_dagster.kinds.audio import AudioAsset, AudioFields, pack_with_import_presets, tiny_audio_model
from assetgen_dagster.kinds.audio.checks import audio_checks
from assetgen_dagster.kinds.audio.tiny import TINY_CODEC_REPO, TINY_VOICE_REPO, build_tiny_audio_codec, build_tiny_voice
from assetgen_dagster.kinds.base import Kind, ModelRole, PackTarget, in_folder
from assetgen_dagster.kinds.voice.cast import SECTION, references, unknown_voice
from assetgen_dagster.kinds.voice.dialogue_lines import DialogueVoice, line_files
from assetgen_dagster.kinds.voice.speaking import EMOTIONS, LineRequest, VoiceParams, line_request, speak, spoken_shape
from assetgen_dagster.kinds.voice.transcripts import (
    SPEECH_RECOGNITION_ROLE,
    VoiceTranscripts,
    WordErrorRate,
    transcript_files,
    voice_review,
)


class VoiceItem(ItemBase, AudioFields):
    kind: Literal["voice"]
    text: Annotated[str, Field(min_length=1, max_length=600)]
    voice: str = "S1"  # a name in the batch's `voices:` cast, or one of Dia's speaker tags S1 / S2
    emotion: Literal[EMOTIONS] | None = None  # type: ignore[valid-type]
    max_wer: WordErrorRate | None = None  # heard-back word error rate the line may have (else the batch's)

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def batch_problems(self, batch: Any) -> Iterable[tuple[str, str]]:
        problem = unknown_voice(batch, self.voice)
        return [("voice", problem)] if problem else []

    def brief(self) -> str:
        return self.text  # a line has no prompt: what is said


class VoiceLines(AudioAsset):
    name = kind = "voice"
    roles = ("voice",)
    makes_candidates = True  # `variants`: N candidates, each from its own seed
    title = "voice lines"
    code_version = "2"
    checks = audio_checks(duration=False)
    description = (
        "Voice lines: `<item>.wav` and `<item>.ogg` per `voice` item in `<output_dir>/<batch>/voice/`, "
        "spoken by a TTS model in the item's `voice` (a character of the batch's `voices:` cast, whose "
        "reference clip is the model's audio prompt, or a speaker tag) with its non-verbal cue (`emotion`), "
        "mono, silence trimmed, loudness-normalised to `loudness_lufs`."
    )

    def request(self, ctx: BatchContext, item: VoiceItem) -> LineRequest:
        return line_request(ctx, self.roles[0], item.id, item.voice, item.text, item.emotion, ctx.seed(item),
                            item.seed is not None)

    def take(self, pipe: Any, request: LineRequest) -> tuple[Any, int]:
        return speak(pipe, request)

    def shape(self, item: VoiceItem, request: LineRequest, audio: Any) -> tuple[Any, None]:
        return spoken_shape(audio, item.sample_rate)


DIA = {
    "repo_id": "nari-labs/Dia-1.6B-0626",
    "revision": "main",
    "pipeline": "text-to-speech",
    "dtype": "float32",
    "params": {"temperature": 1.8, "top_p": 0.9, "guidance": 3.0, "max_seconds": 20.0},
    "license": "Apache-2.0",
}

PACK = (PackTarget("voice", in_folder("audio/voice")), PackTarget("dialogue_voice", line_files("audio/dialogue")),
        PackTarget("voice_transcripts", transcript_files("audio/voice", "audio/dialogue")))

KIND = Kind(
    name="voice",
    item=VoiceItem,
    assets=(VoiceLines(), DialogueVoice(), VoiceTranscripts()),
    pack=PACK,
    assemble=pack_with_import_presets(*PACK),
    models=(ModelRole(
        name="voice", params=VoiceParams, default=DIA,
        tiny=tiny_audio_model(TINY_VOICE_REPO, build_tiny_voice, "text-to-speech",
                              {"temperature": 1.0, "top_p": 1.0, "guidance": 1.0, "max_seconds": 6.0},
                              companions=((TINY_CODEC_REPO, build_tiny_audio_codec),)),
        companions=("descript/dac_44khz",),  # Dia's processor loads this codec (MIT)
        library="transformers",
    ), SPEECH_RECOGNITION_ROLE),
    review=voice_review,
    consumes=("dialogue",),
    sections=SECTION,
    references=references,
    summary="Voice lines from text in a character's voice (a cast with reference clips), each heard back by a "
            "speech recognizer, with word-timed subtitles; voiced dialogue, one file per Yarn line id.",
)
