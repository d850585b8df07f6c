"""``dialogue_voice``: a dialogue that asks to be voiced (``voiced: true``) spoken line by line, each
speaker in its cast voice, one clip per line named by the line's Yarn ``#line:`` id
(``<item>/<line id>.wav`` and ``.ogg``; flat ``audio/dialogue/<line id>.*`` in the pack), which is
how Yarn Spinner's voice-over lookup and a Godot line player find them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assetgen_dagster.engine import (
    BatchContext,
    ItemCheck,
    ItemOutput,
    Verdict,
    fail,
    identity_fields,
    ok,
    runtime_input,
)
from assetgen_dagster.kinds.audio import AudioArtifact, AudioAsset, Take
from assetgen_dagster.kinds.audio.checks import no_clipping, not_silent
from assetgen_dagster.kinds.voice.speaking import LineRequest, line_request, speak, spoken_shape

LINE_RATE, LINE_LUFS = 48000, -23.0  # voiced dialogue lines: 48 kHz mono at the console loudness target


@dataclass(frozen=True)
class DialogueVoiceRequest:
    record: str  # the dialogue's JSON record, relative to the output folder
    record_sha256: str
    spoken_lines: tuple[tuple[str, dict[str, Any]], ...]  # (line id, the line's request as identity fields)
    requests: tuple[LineRequest, ...] = runtime_input(())


def voiced_lines(ctx: BatchContext, item: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """The dialogue record an asset derives from: (its path relative to the output folder, sha256, lines)."""
    record, sha256 = ctx.upstream_file("dialogue", item.id, item.id, ".json")
    return record, sha256, json.loads(ctx.absolute(record).read_text(encoding="utf-8"))["lines"]


def every_line(verdict: Any) -> Any:
    """A check over each line's clip: fails naming the lines that fail, figures of the worst."""

    def check(item: Any, lines: dict[str, AudioArtifact]) -> Verdict:
        verdicts = {line_id: verdict(artifact) for line_id, artifact in lines.items()}
        failed = {line_id: v.message for line_id, v in verdicts.items() if not v.passed}
        if failed:
            return fail("; ".join(f"{line_id}: {why}" for line_id, why in failed.items()), lines_failed=len(failed))
        return ok(lines=len(verdicts))

    return check


class DialogueVoice(AudioAsset):
    name = "dialogue_voice"
    kind = "voice"
    covers = ("dialogue",)  # of the dialogue items, only those that ask to be voiced
    deps = ("dialogue",)
    roles = ("voice",)
    title = "voiced dialogue lines"
    code_version = "1"
    checks = (
        ItemCheck("not_silent", "Every line's RMS is above -60 dBFS.", every_line(not_silent)),
        ItemCheck("no_clipping", "Every line peaks at or below -1 dBFS.", every_line(no_clipping)),
    )
    description = (
        "Voiced dialogue: for each `dialogue` item with `voiced: true`, every generated line spoken in its "
        "speaker's cast voice, `<item>/<line id>.wav` and `.ogg` (the Yarn `#line:` id), 48 kHz mono at "
        "-23 LUFS, in `<output_dir>/<batch>/dialogue_voice/`."
    )

    def takes(self, item: Any) -> bool:
        return item.kind == "dialogue" and bool(getattr(item, "voiced", False))

    def request(self, ctx: BatchContext, item: Any) -> DialogueVoiceRequest:
        record, sha256, lines = voiced_lines(ctx, item)
        seed, references = ctx.seed(item), {}
        requests = tuple(line_request(ctx, self.roles[0], item.id, line["speaker"], line["text"], None,
                                      seed + index, item.seed is not None, references)
                         for index, line in enumerate(lines))
        return DialogueVoiceRequest(record, sha256, tuple((line["id"], identity_fields(request))
                                                          for line, request in zip(lines, requests, strict=True)),
                                    requests)

    def take(self, pipe: Any, request: LineRequest) -> tuple[Any, int]:
        return speak(pipe, request)

    def generate(self, model: Any, requests: Sequence[DialogueVoiceRequest]) -> list[list[Take]]:
        """Each dialogue's lines, one timed pipeline call per line (as every audio kind's takes)."""
        takes = super().generate
        return [takes(model, list(request.requests)) for request in requests]

    def write(self, out: ItemOutput, item: Any, request: DialogueVoiceRequest, raw: list[Take]) -> dict[str, AudioArtifact]:
        return {line_id: self.write_clip(out, take, LINE_RATE, LINE_LUFS, lambda audio: spoken_shape(audio, LINE_RATE),
                                         f"/{line_id}")
                for (line_id, _), take in zip(request.spoken_lines, raw, strict=True)}

    def load(self, out: ItemOutput, item: Any) -> dict[str, AudioArtifact]:
        return {path.stem: self.read_clip(path.read_bytes()) for path in sorted(out.files) if path.suffix == ".wav"}

    def stats(self, item: Any, lines: dict[str, AudioArtifact]) -> dict[str, Any]:
        return {"lines": len(lines), "seconds": round(sum(clip.seconds for clip in lines.values()), 3),
                "sample_rate": LINE_RATE}

    def preview(self, out: ItemOutput, item: Any) -> Any:
        from assetgen_dagster.kinds.audio.preview import wav_picture

        wavs = sorted(path for path in out.files if path.suffix == ".wav")
        return wav_picture(wavs[0].read_bytes()) if wavs else None


def line_files(folder: str) -> Any:
    """Pack path of a line's clip: ``<folder>/<line id>.<ext>``, one flat folder keyed by line id."""
    return lambda item_id, file_name: f"{folder}/{file_name.rsplit('/', 1)[-1]}"
