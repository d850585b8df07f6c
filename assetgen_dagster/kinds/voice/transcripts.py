"""``voice_transcripts``: every spoken line heard back by a speech recognizer (Whisper through
transformers' automatic-speech-recognition pipeline, one load per run), written as the line's
subtitle record (text, speaker, transcript, word error rate, per-word start and end seconds) and a
SubRip ``.srt``. The ``speech_matches_text`` check fails a line whose error rate is above its
threshold, and a failed line is left out of the pack."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from assetgen_dagster.engine import (
    BatchContext,
    ItemAsset,
    ItemCheck,
    ItemOutput,
    UpstreamMissing,
    Verdict,
    fail,
    ok,
    runtime_input,
    worst,
)
from assetgen_dagster.engine.cards import Markup
from assetgen_dagster.kinds.audio import audio_review
from assetgen_dagster.kinds.base import ModelRole, TinyModel
from assetgen_dagster.kinds.text import json_bytes
from assetgen_dagster.kinds.voice.dialogue_lines import voiced_lines
from assetgen_dagster.kinds.voice.hearing import normalise, printable, srt, word_error_rate, word_timings
from assetgen_dagster.kinds.voice.tiny import TINY_SPEECH_RECOGNITION_REPO, build_tiny_speech_recognition
from assetgen_dagster.models.catalog import ModelParams

RECOGNIZER_RATE = 16000  # Whisper's input rate
WordErrorRate = Annotated[float, Field(ge=0.0, le=100.0)]


class SpeechRecognitionParams(ModelParams):
    """The recognizer's language and the word error rate a line may have when none is set in the batch."""

    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "en"
    max_wer: WordErrorRate = 0.25


SPEECH_RECOGNITION_ROLE = ModelRole(
    name="speech_recognition", params=SpeechRecognitionParams, library="transformers",
    default={"repo_id": "openai/whisper-large-v3-turbo", "revision": "main",
             "pipeline": "automatic-speech-recognition", "dtype": "float16",
             "params": {"language": "en", "max_wer": 0.25}, "license": "MIT"},
    tiny=TinyModel(repo_id=TINY_SPEECH_RECOGNITION_REPO, build=build_tiny_speech_recognition, entry={
        "revision": "main", "pipeline": "automatic-speech-recognition", "dtype": "float32",
        # The tiny recognizer hears gibberish: its threshold records the figure without blocking the pack.
        "params": {"language": "en", "max_wer": 100.0}, "license": "random weights built locally; test use only"}),
)


@dataclass(frozen=True)
class Clip:
    """One spoken line to hear back: its file name stem in the item's output, what it should say."""

    name: str  # "" for a voice item (<item>.json), "/<line id>" for a dialogue line
    line: str  # the voice item's id or the Yarn line id
    speaker: str
    emotion: str | None
    text: str
    wav: str  # relative to the output folder
    wav_sha256: str


@dataclass(frozen=True)
class HearingRequest:
    clips: tuple[Clip, ...]
    language: str
    max_wer: float
    paths: tuple[Path, ...] = runtime_input(())  # each clip's WAV, whose relative path and hash are in clips


@dataclass(frozen=True)
class Heard:
    """What the recognizer made of one clip: its text, word chunks and the clip's length."""

    text: str
    chunks: list[dict[str, Any]]
    seconds: float


def threshold(ctx: BatchContext, item: Any, params: SpeechRecognitionParams) -> float:
    """The item's ``max_wer``, else the batch's ``defaults.max_wer``, else the recognizer role's."""
    for value in (getattr(item, "max_wer", None), ctx.batch.defaults.max_wer):
        if value is not None:
            return value
    return params.max_wer


def speech_matches_text(item: Any, records: list[dict[str, Any]]) -> Verdict:
    """Every line's word error rate at or below its threshold; the worst line's transcript recorded."""
    worst_line = max(records, key=lambda record: record["wer"])
    figures = {"wer": worst_line["wer"], "max_wer": worst_line["max_wer"], "line": worst_line["id"],
               "transcript": worst_line["transcript"][:200], "lines": len(records)}
    failed = [record for record in records if record["wer"] > record["max_wer"]]
    if failed:
        return fail("; ".join(f"{record['id']}: heard {record['transcript'][:80]!r}, word error rate "
                              f"{record['wer']} > {record['max_wer']}" for record in failed), **figures)
    return ok(**figures)


class VoiceTranscripts(ItemAsset):
    name = "voice_transcripts"
    kind = "voice"
    covers = ("dialogue",)
    deps = ("voice", "dialogue_voice", "dialogue")
    roles = ("speech_recognition",)
    group = "audio"
    title = "transcripts"
    ui_kinds = ("json", "whisper")
    code_version = "1"
    checks = (ItemCheck("speech_matches_text", "A speech recognizer hears each line say its text: word error rate "
                        "(case, punctuation and number spelling ignored) at or below max_wer.", speech_matches_text,
                        blocking=True, summary=worst("wer", "max_wer_heard")),)
    description = (
        "Subtitles heard back: per voice line (and per line of a voiced dialogue) `<item>.json` with the "
        "text, the speech recognizer's transcript, the word error rate and per-word start/end seconds, and "
        "`<item>.srt`, in `<output_dir>/<batch>/voice_transcripts/`; a line above its `max_wer` is not packed."
    )

    def takes(self, item: Any) -> bool:
        return item.kind == "voice" or bool(getattr(item, "voiced", False))

    def request(self, ctx: BatchContext, item: Any) -> HearingRequest:
        params: SpeechRecognitionParams = ctx.model_params(self.roles[0])
        if item.kind == "voice":
            wav, sha256 = ctx.upstream_file("voice", item.id, item.id, ".wav")
            clips = (Clip("", item.id, item.voice, item.emotion, " ".join(item.text.split()), wav, sha256),)
        else:
            voice_entry, folder = ctx.upstream("dialogue_voice", item.id, item.id)
            _, record_sha256, lines = voiced_lines(ctx, item)
            if voice_entry["provenance"].get("record_sha256") != record_sha256:  # spoken from older lines
                raise UpstreamMissing(f"{ctx.snapshot.path.name}: item {item.id!r}: its dialogue_voice clips were "
                                      f"spoken from an earlier version of its lines; materialize `dialogue_voice` "
                                      f"for partition {ctx.batch_id!r} first")
            clips = tuple(Clip(f"/{line['id']}", line["id"], line["speaker"], None, line["text"],
                               str((folder / f"{item.id}/{line['id']}.wav").relative_to(ctx.output_dir)),
                               voice_entry["files"][f"{item.id}/{line['id']}.wav"]["sha256"])
                          for line in lines)
        return HearingRequest(clips, params.language, threshold(ctx, item, params),
                              tuple(ctx.absolute(clip.wav) for clip in clips))

    def generate(self, model: Any, requests: Sequence[HearingRequest]) -> list[list[Heard]]:
        """One recognizer call per clip (lengths differ), word timestamps from its cross-attention."""
        from assetgen_dagster.kinds.audio import dsp, files

        heard = []
        for request in requests:
            clips = []
            for clip, path in zip(request.clips, request.paths, strict=True):
                decoded = files.decode(path.read_bytes())
                mono = dsp.resample(dsp.to_channels(decoded.audio, 1), decoded.rate, RECOGNIZER_RATE)[:, 0]
                budget = min(440, 4 * len(clip.text.split()) + 16)  # tokens: a babbling recognizer stops
                result = model.pipeline({"raw": mono, "sampling_rate": RECOGNIZER_RATE}, return_timestamps="word",
                                        generate_kwargs={"language": request.language, "task": "transcribe",
                                                         "max_new_tokens": budget})
                clips.append(Heard(result.get("text", ""), list(result.get("chunks") or []),
                                   decoded.audio.shape[0] / decoded.rate))
            heard.append(clips)
        return heard

    def write(self, out: ItemOutput, item: Any, request: HearingRequest, raw: list[Heard]) -> list[dict[str, Any]]:
        records = []
        for clip, heard in zip(request.clips, raw, strict=True):
            transcript = printable(heard.text)
            record = {"id": clip.line, "text": clip.text, "voice": clip.speaker, "emotion": clip.emotion,
                      "seconds": round(heard.seconds, 3), "transcript": transcript,
                      "wer": round(word_error_rate(normalise(clip.text), normalise(transcript)), 4),
                      "max_wer": request.max_wer, "language": request.language,
                      "words": word_timings(heard.chunks, heard.seconds)}
            out.write_bytes(json_bytes({**record, "_provenance": out.provenance}), f"{clip.name}.json")
            out.write_bytes(srt(record["words"], clip.text, heard.seconds).encode(), f"{clip.name}.srt")
            records.append(record)
        return records

    def load(self, out: ItemOutput, item: Any) -> list[dict[str, Any]]:
        return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(out.files) if path.suffix == ".json"]

    def stats(self, item: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"lines": len(records), "max_wer_heard": max(record["wer"] for record in records),
                "words_timed": sum(len(record["words"]) for record in records)}

    def preview(self, out: ItemOutput, item: Any) -> None:
        return None  # text: the voice line's own preview shows the clip


def voice_review(card: Any) -> Markup:
    """A voice line's card: the audio kinds' (player, waveform and spectrogram, links), then what the
    speech recognizer heard and the word error rate against the threshold."""
    heard = []
    for path, source in card.files.get("voice_transcripts", []):
        if path.endswith(".json"):
            record = json.loads(source.read_text(encoding="utf-8"))
            verdict = "pass" if record["wer"] <= record["max_wer"] else "fail"
            heard.append(Markup('<p class="heard {}">heard: <q>{}</q> · word error rate {} (at most {})</p>').format(
                verdict, record["transcript"], record["wer"], record["max_wer"]))
    return audio_review(card) + Markup("").join(heard)


def transcript_files(voice_folder: str, dialogue_folder: str) -> Any:
    """Pack path of a subtitle record or .srt: beside its clip (a voice line's, or a dialogue line's)."""
    return lambda item_id, name: (f"{dialogue_folder}/{name.rsplit('/', 1)[-1]}" if "/" in name
                                  else f"{voice_folder}/{name}")
