"""The checks every audio kind runs on its written files (figures in dB, LUFS and samples)."""

from __future__ import annotations

from typing import Any

from assetgen_dagster.engine import ItemCheck, Verdict, fail, ok, worst

SILENT_DBFS = -60.0  # RMS below this is silence
LOUDNESS_TOLERANCE_LU = 1.0
DURATION_TOLERANCE = 0.05
PEAK_SLACK_DB = 0.01  # 16-bit rounding of a peak set exactly at the ceiling
STEP_SLACK = 1.01  # a loop's jump may equal the signal's own largest steps (a sine wraps on its steepest)


def not_silent(artifact: Any) -> Verdict:
    import numpy as np

    from assetgen_dagster.kinds.audio.dsp import gain_to_db

    rms = round(gain_to_db(float(np.sqrt(np.mean(np.square(artifact.audio))))), 2) if artifact.audio.size else -240.0
    return ok(rms_dbfs=rms) if rms > SILENT_DBFS else fail(f"RMS {rms} dBFS is silence (<= {SILENT_DBFS})", rms_dbfs=rms)


def no_clipping(artifact: Any) -> Verdict:
    from assetgen_dagster.kinds.audio.dsp import PEAK_CEILING_DBFS

    peak = round(artifact.peak_dbfs, 2)
    if peak > PEAK_CEILING_DBFS + PEAK_SLACK_DB:
        return fail(f"peak {peak} dBFS is above the {PEAK_CEILING_DBFS} dBFS ceiling", peak_dbfs=peak)
    return ok(peak_dbfs=peak)


def loudness_on_target(target_lufs: float, artifact: Any) -> Verdict:
    """Within +-1 LU of the target; a clip too short for BS.1770 passes as peak-normalised (and says so)."""
    if artifact.loudness_lufs is None:
        return ok(mode="peak", note="shorter than 0.4 s: BS.1770 cannot measure it, peak-normalised instead")
    measured = round(artifact.loudness_lufs, 2)
    off = round(measured - target_lufs, 2)
    if abs(off) > LOUDNESS_TOLERANCE_LU:
        return fail(f"{measured} LUFS is {off:+} LU from the {target_lufs} LUFS target", loudness_lufs=measured,
                    off_lu=off)
    return ok(loudness_lufs=measured, off_lu=off)


def duration_as_asked(seconds: float, artifact: Any, exact: bool) -> Verdict:
    """Within 5 % of the asked duration; a loop has exactly round(seconds * rate) samples."""
    frames, rate = artifact.audio.shape[0], artifact.rate
    actual = round(frames / rate, 4)
    if exact:
        asked = round(seconds * rate)
        if frames != asked:
            return fail(f"{frames} samples, not the {asked} a {seconds} s loop at {rate} Hz has", samples=frames)
        return ok(samples=frames, seconds=actual)
    off = (actual - seconds) / seconds
    if abs(off) > DURATION_TOLERANCE:
        return fail(f"{actual} s is {off:+.1%} from the asked {seconds} s", seconds=actual)
    return ok(seconds=actual)


def loop_seamless(artifact: Any) -> Verdict:
    """The loop read back from the WAV's smpl chunk spans the file, and the step across the loop point
    is no larger than the signal's typical sample-to-sample step."""
    from assetgen_dagster.kinds.audio.dsp import loop_jump, typical_step

    frames = artifact.audio.shape[0]
    if artifact.loop is None:
        return fail("the WAV has no smpl loop")
    start, end = artifact.loop
    if (start, end) != (0, frames - 1):
        return fail(f"smpl loop {start}..{end} does not span the file's {frames} samples", loop=[start, end])
    jump, step = loop_jump(artifact.audio), typical_step(artifact.audio)
    ratio = round(jump / step, 3) if step > 0 else (0.0 if jump == 0 else float("inf"))
    if jump > step * STEP_SLACK:
        return fail(f"jump across the loop point {jump:.5f} > typical step {step:.5f} (a click)", jump_ratio=ratio)
    return ok(jump_ratio=ratio, loop=[start, end])


def audio_checks(duration: bool = True, loop: bool = False) -> tuple[ItemCheck, ...]:
    """The kind's checks: silence, clipping and loudness always; duration and loop where asked."""
    checks = [
        ItemCheck("not_silent", f"RMS above {SILENT_DBFS} dBFS.", lambda item, a: not_silent(a)),
        ItemCheck("no_clipping", "Peak at or below -1 dBFS.", lambda item, a: no_clipping(a),
                  summary=worst("peak_dbfs", "max_peak_dbfs")),
        ItemCheck("loudness_on_target", "Integrated loudness within +-1 LU of the item's loudness_lufs "
                  "(clips under 0.4 s, which BS.1770 cannot measure, are peak-normalised).",
                  lambda item, a: loudness_on_target(item.loudness_lufs, a)),
    ]
    if duration:
        checks.append(ItemCheck("duration_as_asked", "Duration within +-5 % of the asked one; loops exact to the sample.",
                                lambda item, a: duration_as_asked(item.duration, a, exact=bool(getattr(item, "loop", False)))))
    if loop:
        checks.append(ItemCheck("loop_seamless", "Loops: the smpl loop spans the file and the step across the loop "
                                "point is no larger than the signal's own 99th-percentile sample-to-sample step (no click).",
                                lambda item, a: loop_seamless(a) if item.loop else ok(note="not a loop"),
                                summary=worst("jump_ratio", "max_jump_ratio")))
    return tuple(checks)
