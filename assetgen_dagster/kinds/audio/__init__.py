"""What the audio kinds share: item options, the post-processing chain, WAV/OGG files, checks, preview.

Not a kind itself: sfx, music and voice each declare their own model role and item, and say how a
raw take becomes their clip (``shape``: channels, trimming, a loop) after it is resampled to the
item's rate and high-passed at 20 Hz (DC offset); this module then levels it
(loudness, peak ceiling) and writes ``<item>.wav`` (PCM 16-bit, loop points in ``smpl``) and
``<item>.ogg`` (Vorbis), both tagged with the item's provenance. No numpy or torch at import.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from assetgen_dagster.batches import MAX_GUIDANCE, MAX_STEPS, Strict
from assetgen_dagster.engine import ItemAsset, ItemOutput
from assetgen_dagster.engine.cards import Markup, audio_player, link
from assetgen_dagster.engine.preview import encode
from assetgen_dagster.kinds.audio.preview import wav_picture
from assetgen_dagster.kinds.base import PackTarget, TinyModel
from assetgen_dagster.models.catalog import ModelParams

__all__ = ["AudioArtifact", "AudioAsset", "AudioFields", "DiffusionAudioParams", "Take", "audio_review", "seeded",
           "tiny_audio_model"]

SampleRate = Literal[44100, 48000]
Lufs = Annotated[float, Field(ge=-40.0, le=-6.0)]


class AudioFields(Strict):
    """Options every audio item has: the file's sample rate and the loudness it is normalised to."""

    sample_rate: SampleRate = 48000
    loudness_lufs: Lufs = -23.0  # EBU R128 / ASWG-R001 console target; mobile titles often use -16


class DiffusionAudioParams(ModelParams):
    """Generation defaults of an audio diffusion model (sfx, music); a batch's own steps and guidance win."""

    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 8
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 7.0


def tiny_audio_model(repo_id: str, build: Callable[[Any], None], pipeline: str, params: dict[str, Any],
                     companions: tuple = ()) -> TinyModel:
    """An audio role's tiny-kit entry: float32, random weights, test use only."""
    return TinyModel(repo_id=repo_id, build=build, companions=companions,
                     entry={"revision": "main", "pipeline": pipeline, "dtype": "float32", "params": params,
                            "license": "random weights built locally; test use only"})


def seeded(seed: int) -> Any:
    """A CPU generator per item: the item's noise does not depend on the device or its neighbours."""
    import torch

    return torch.Generator("cpu").manual_seed(seed)


@dataclass
class Take:
    """What a model produced for one item: float32 frames (samples, channels) at the model's rate."""

    audio: Any
    rate: int
    seconds: float = 0.0  # generation time of this item


@dataclass
class AudioArtifact:
    """One written clip, as the checks see it (read back from the WAV when reused)."""

    audio: Any  # float32 (samples, channels) at ``rate``
    rate: int
    loop: tuple[int, int] | None
    loudness_lufs: float | None  # None: too short for BS.1770 (peak-normalised)
    peak_dbfs: float
    timings: dict[str, float] | None = None  # seconds per step, for items generated in this run

    @property
    def seconds(self) -> float:
        return self.audio.shape[0] / self.rate


class AudioAsset(ItemAsset):
    """An audio kind's asset: subclasses implement ``take`` (one pipeline call) and ``shape`` (and may
    add files with ``extra_files``); generating per request, writing, loading, stats and preview are here."""

    group = "audio"
    ui_kinds = ("audio", "wav")

    def take(self, pipe: Any, request: Any) -> tuple[Any, int]:
        """One request's audio as the pipeline returns it (channels-first or 1-D) and its sample rate."""
        raise NotImplementedError

    def generate(self, model: Any, requests: Sequence[Any]) -> list[Take]:
        """One pipeline call per request (durations differ, so requests do not share a call), timed."""
        import torch

        from assetgen_dagster.kinds.audio.dsp import as_frames

        takes = []
        for request in requests:
            began = time.perf_counter()
            with torch.inference_mode():
                audio, rate = self.take(model.pipeline, request)
            takes.append(Take(as_frames(audio), int(rate), time.perf_counter() - began))
        return takes

    def shape(self, item: Any, request: Any, audio: Any) -> tuple[Any, tuple[int, int] | None]:
        """The clip at the item's sample rate before levelling, and its loop (start, end) if it loops."""
        raise NotImplementedError

    def extra_files(self, out: ItemOutput, item: Any, request: Any, artifact: AudioArtifact) -> None:
        """Files beside the WAV and OGG (a voice line's subtitle record); none by default."""

    def write(self, out: ItemOutput, item: Any, request: Any, raw: Take) -> AudioArtifact:
        artifact = self.write_clip(out, raw, item.sample_rate, item.loudness_lufs,
                                   lambda audio: self.shape(item, request, audio))
        self.extra_files(out, item, request, artifact)
        return artifact

    def write_clip(self, out: ItemOutput, raw: Take, rate: int, loudness_lufs: float,
                   shape: Callable[[Any], tuple[Any, tuple[int, int] | None]], name: str = "") -> AudioArtifact:
        """Resample, shape, level and write one clip as ``<item><name>.wav`` and ``.ogg`` (``name``
        ``/<line>`` puts it in the item's folder); what the checks see, read back from the WAV."""
        from assetgen_dagster.kinds.audio import dsp, files

        began = time.perf_counter()
        audio = dsp.remove_dc(dsp.resample(raw.audio, raw.rate, rate), rate)
        audio, loop = shape(audio)
        leveled = dsp.level(audio, rate, loudness_lufs)
        processed = time.perf_counter()
        comment = json.dumps(out.provenance, sort_keys=True)
        wav = files.encode(leveled.audio, rate, "WAV", comment)
        if loop is not None:
            wav = files.with_loop(wav, rate, *loop)
        ogg = files.encode(leveled.audio, rate, "OGG", comment)
        if loop is not None:
            ogg = files.ogg_with_loop(ogg, *loop)
        encoded = time.perf_counter()
        out.write_bytes(wav, f"{name}.wav")
        out.write_bytes(ogg, f"{name}.ogg")
        artifact = self.read_clip(wav)  # the checks see what was written, loop points read back
        artifact.timings = {"generate": round(raw.seconds, 4), "post_process": round(processed - began, 4),
                            "encode": round(encoded - processed, 4)}
        return artifact

    def load(self, out: ItemOutput, item: Any) -> AudioArtifact:
        return self.read_clip(out.path(".wav").read_bytes())

    @staticmethod
    def read_clip(wav: bytes) -> AudioArtifact:
        """A written clip as the checks see it, from its WAV bytes."""
        from assetgen_dagster.kinds.audio import dsp, files

        decoded = files.decode(wav)
        return AudioArtifact(decoded.audio, decoded.rate, files.read_loop(wav),
                             dsp.measure_loudness(decoded.audio, decoded.rate),
                             dsp.gain_to_db(dsp.peak(decoded.audio)))

    def stats(self, item: Any, artifact: AudioArtifact) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "seconds": round(artifact.seconds, 4), "sample_rate": artifact.rate, "channels": artifact.audio.shape[1],
            "loudness_lufs": None if artifact.loudness_lufs is None else round(artifact.loudness_lufs, 2),
            "loudness_mode": "peak" if artifact.loudness_lufs is None else "loudness",
            "peak_dbfs": round(artifact.peak_dbfs, 2),
        }
        if artifact.loop is not None:
            stats["loop"] = list(artifact.loop)
        if artifact.timings:
            stats["seconds_per_step"] = artifact.timings
        return stats

    def preview(self, out: ItemOutput, item: Any) -> Any:
        """Waveform (loop points marked) over a spectrogram."""
        return wav_picture(out.path(".wav").read_bytes())


def audio_review(card: Any) -> Any:
    """Per clip: its waveform and spectrogram, a player (OGG) and the WAV linked, plus any other file
    (the page shows a voice line's text as every item's prompt: ``brief()``)."""
    parts = []
    for asset in card.files:
        for path, source in card.files[asset]:
            name = path.rsplit("/", 1)[-1]
            if path.endswith(".wav"):
                sheet = wav_picture(source.read_bytes())
                parts.append(Markup('<figure class="image"><img src="{}" width="{}" height="{}" alt="{} waveform '
                                    'and spectrogram"><figcaption>{}</figcaption></figure>').format(
                    encode(sheet), sheet.width, sheet.height, name, link(path, name)))
            elif path.endswith(".ogg"):
                parts.append(audio_player(path, name))
            else:
                parts.append(link(path, name))
    return Markup("").join(parts)


# Godot 3 imports every OGG looping unless its .import says otherwise; the preset shipped beside each
# OGG in the pack says whether that clip loops.
OGG_GODOT_IMPORT = """[remap]

importer="ogg_vorbis"
type="AudioStreamOGGVorbis"

[params]

loop={loop}
loop_offset=0
"""


def pack_with_import_presets(*targets: PackTarget) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """A ``Kind.assemble`` for the audio kinds: the item's files where ``targets`` put them, plus a
    Godot 3 import preset per OGG that loops exactly when the clip carries loop comments."""

    def assemble(item: Any, sources: dict[str, Any]) -> dict[str, Any]:
        from assetgen_dagster.kinds.audio import files

        packed: dict[str, Any] = {target.path(item.id, name): path for target in targets
                                  for name, path in sources.get(target.asset, {}).items()}
        for path, source in list(packed.items()):
            if path.endswith(".ogg"):
                loops = files.read_ogg_loop(source.read_bytes()) is not None
                packed[f"{path}.import"] = OGG_GODOT_IMPORT.format(loop=str(loops).lower()).encode()
        return packed

    return assemble
