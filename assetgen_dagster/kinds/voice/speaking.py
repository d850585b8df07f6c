"""One spoken line: what the TTS model is asked (script, seed, the character's reference) and the call.

Shared by voice items and voiced dialogue lines. A character with a reference clip is spoken by
giving Dia the clip as an audio prompt and its transcript before the line ("[S1] <transcript>
[S1] <line>"); only the audio generated after the prompt is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from assetgen_dagster.engine import BatchContext, runtime_input
from assetgen_dagster.kinds.voice.cast import Reference, cast_of, character_seed, read_reference
from assetgen_dagster.models.catalog import ModelParams

# Dia's non-verbal cues, written "(laughs)" before the line.
EMOTIONS = ("laughs", "chuckle", "sighs", "gasps", "coughs", "clears throat", "groans", "sniffs", "screams",
            "inhales", "exhales", "mumbles", "humming", "whistles")
CODEC_FRAMES_PER_SECOND = 44100 / 512  # DAC 44.1 kHz, hop 512: one audio token per channel per frame
CHARS_PER_SECOND = 14.0  # speaking rate used to cap generation for a line


class VoiceParams(ModelParams):
    """Sampling settings of the TTS model and the longest line it may speak."""

    temperature: Annotated[float, Field(gt=0.0, le=3.0)] = 1.8
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    guidance: Annotated[float, Field(ge=1.0, le=10.0)] = 3.0
    max_seconds: Annotated[float, Field(gt=0.0, le=35.0)] = 20.0


@dataclass(frozen=True)
class LineRequest:
    """Everything that changes one spoken line: the script, the seed, the voice's reference (path,
    content hash, transcript) and the sampling settings."""

    script: str  # what the model reads: "[S1] (sighs) The line.", after the reference's transcript if any
    seed: int
    voice: str  # the cast name or speaker tag
    reference: str | None  # relative to the prompts folder
    reference_sha256: str | None
    temperature: float
    top_p: float
    guidance: float
    max_frames: int
    reference_audio: Any = runtime_input()  # float32 mono at 44.1 kHz, read with its hash


def frame_budget(text: str, max_seconds: float) -> int:
    """Audio frames a line may take: its length at a calm speaking rate plus a second, capped."""
    seconds = min(max_seconds, 1.0 + len(text) / CHARS_PER_SECOND)
    return math.ceil(seconds * CODEC_FRAMES_PER_SECOND)


def line_request(ctx: BatchContext, role: str, item_id: str, voice: str, text: str, emotion: str | None,
                 item_seed: int, explicit_seed: bool, references: dict[str, Reference] | None = None) -> LineRequest:
    """The request for one line spoken by ``voice`` (a cast name or a speaker tag). A cast entry
    without a reference speaks with its tag and a seed fixed per character unless the item sets one.
    ``references``: the clips already read for this item, by cast name (a dialogue's lines share them)."""
    params: VoiceParams = ctx.model_params(role)
    line = " ".join(text.split())
    cue = f" ({emotion})" if emotion else ""
    reference = None
    seed, tag = item_seed, voice
    cast = cast_of(ctx.batch)
    if voice in cast:  # a cast entry wins over the speaker tag of the same name
        entry = cast[voice]
        tag = entry.speaker
        if entry.reference is None:
            seed = item_seed if explicit_seed else character_seed(ctx.batch, voice)
        else:
            known = references if references is not None else {}
            if voice not in known:
                known[voice] = read_reference(ctx.snapshot.path.parent, ctx.snapshot.path, item_id, voice, entry)
            reference = known[voice]
    prompt = f"[{tag}] {reference.transcript} " if reference else ""
    return LineRequest(f"{prompt}[{tag}]{cue} {line}", seed, voice, reference and reference.path,
                       reference and reference.sha256, params.temperature, params.top_p, params.guidance,
                       frame_budget(line, params.max_seconds), reference and reference.audio)


def speak(pipe: Any, request: LineRequest) -> tuple[Any, int]:
    """One line from a transformers text-to-speech pipeline's model and processor (Dia): the audio
    after the reference prompt, and its sample rate."""
    import torch

    audio = [request.reference_audio] if request.reference_audio is not None else None
    inputs = pipe.processor(text=[request.script], audio=audio, padding=True, return_tensors="pt").to(pipe.model.device)
    torch.manual_seed(request.seed)  # Dia samples with the global generator
    tokens = pipe.model.generate(**inputs, max_new_tokens=request.max_frames, do_sample=True,
                                 temperature=request.temperature, top_p=request.top_p,
                                 guidance_scale=request.guidance)
    prompt_frames = pipe.processor.get_audio_prompt_len(inputs["decoder_attention_mask"]) if audio else None
    [wave] = pipe.processor.batch_decode(tokens, audio_prompt_len=prompt_frames)
    return wave.float().cpu().numpy(), int(pipe.processor.feature_extractor.sampling_rate)


def spoken_shape(audio: Any, rate: int) -> tuple[Any, None]:
    """A spoken clip before levelling: mono, silence trimmed from both ends, short fades; no loop."""
    from assetgen_dagster.kinds.audio import dsp

    return dsp.fade(dsp.trim_silence(dsp.to_channels(audio, 1)), rate), None
