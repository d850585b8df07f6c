"""A batch's cast: the top-level ``voices:`` map from a character's name to how it sounds.

An entry with a ``reference`` (a WAV, OGG or FLAC clip in the prompts folder, with its
``transcript``) is given to the TTS model as an audio prompt before every line of that character,
so all of them share its voice. An entry without one falls back to a speaker tag and a seed fixed
per character: the same timbre more often than not, but not guaranteed (documented as less stable).
Reading a reference checks it is confined to the prompts folder, decodes and is of a usable length;
every problem names the file, the item and the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from assetgen_dagster.batches import BatchError, Strict, read_referenced, relative_file

SPEAKER_TAGS = ("S1", "S2")  # Dia's two speakers
CAST_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"  # as a dialogue's speaker ids, so a speaker names its voice
REFERENCE_SUFFIXES = (".wav", ".ogg", ".flac")
MAX_REFERENCE_BYTES = 20_000_000
MIN_REFERENCE_SECONDS, MAX_REFERENCE_SECONDS = 1.0, 20.0  # Dia works best with 5-10 s of prompt
REFERENCE_RATE = 44100  # Dia's codec (DAC 44.1 kHz)


class CastEntry(Strict):
    """One character's voice: a reference clip and what it says, or a speaker tag alone."""

    reference: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    transcript: Annotated[str, Field(min_length=1, max_length=600)] | None = None
    speaker: Literal["S1", "S2"] = "S1"  # the tag the reference's transcript and the lines are read with

    @field_validator("reference")
    @classmethod
    def _relative_audio_path(cls, value: str | None) -> str | None:
        return value if value is None else relative_file(value, REFERENCE_SUFFIXES, "an audio file")

    @model_validator(mode="after")
    def _reference_needs_transcript(self) -> CastEntry:
        if self.reference is not None and (self.transcript is None or not self.transcript.strip()):
            raise ValueError("transcript: a reference needs the words it says (the model reads them before each line)")
        if self.reference is None and self.transcript is not None:
            raise ValueError("transcript: only a reference clip has a transcript; add `reference` or remove it")
        return self


Cast = Annotated[dict[Annotated[str, Field(pattern=CAST_NAME)], CastEntry], Field(max_length=64)]
SECTION = {"voices": (Cast, {})}  # the voice kind's top-level batch key


def references(batch: Any) -> list[str]:
    """The reference clips a batch's cast reads (relative to the prompts folder)."""
    return [entry.reference for entry in cast_of(batch).values() if entry.reference]


def cast_of(batch: Any) -> dict[str, CastEntry]:
    """The batch's cast (empty when the voice kind is not registered)."""
    return getattr(batch, "voices", None) or {}


def unknown_voice(batch: Any, name: str) -> str | None:
    """Why ``name`` is not a voice of this batch, or None when it is a cast name or a speaker tag."""
    cast = cast_of(batch)
    if name in cast or name in SPEAKER_TAGS:
        return None
    names = ", ".join(sorted(cast)) or "none"
    return f"{name!r} is neither a name in the batch's voices ({names}) nor a speaker tag ({', '.join(SPEAKER_TAGS)})"


def character_seed(batch: Any, name: str) -> int:
    """A seed fixed per character (a cast entry without a reference): from the batch seed and the name."""
    derived = hashlib.sha256(f"{batch.defaults.seed}/voice/{name}".encode()).digest()
    return int.from_bytes(derived[:4], "big")


@dataclass(frozen=True)
class Reference:
    """A character's reference clip as read for one run: where, its content hash, what it says, the audio."""

    path: str  # relative to the prompts folder
    sha256: str
    transcript: str
    audio: Any  # float32 mono at REFERENCE_RATE


def read_reference(prompts_dir: Path, batch_file: Path, item_id: str, name: str, entry: CastEntry) -> Reference:
    """Read, confine, decode and measure a cast entry's reference; :class:`BatchError` names file, item and field."""
    from assetgen_dagster.kinds.audio import dsp, files

    where = f"item {item_id!r}, field 'voices.{name}.reference'"

    def refuse(problem: str) -> BatchError:
        return BatchError(batch_file, [f"{where}: {entry.reference}: {problem}"])

    try:
        data = read_referenced(prompts_dir, entry.reference, MAX_REFERENCE_BYTES)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    try:
        decoded = files.decode(data)
    except Exception as exc:  # noqa: BLE001 - whatever the decoder says, the file is not audio we can read
        raise refuse(f"is not a WAV, OGG or FLAC file ({type(exc).__name__})") from None
    seconds = decoded.audio.shape[0] / decoded.rate
    if not MIN_REFERENCE_SECONDS <= seconds <= MAX_REFERENCE_SECONDS:
        raise refuse(f"is {seconds:.1f} s long; a reference is {MIN_REFERENCE_SECONDS:g}-{MAX_REFERENCE_SECONDS:g} s")
    mono = dsp.to_channels(decoded.audio, 1)
    audio = dsp.resample(mono, decoded.rate, REFERENCE_RATE)[:, 0]
    return Reference(entry.reference, hashlib.sha256(data).hexdigest(), " ".join(entry.transcript.split()), audio)
