"""Post-processing every audio kind shares: resample, trim, fade, loudness, peak ceiling, loops.

Signals are float32 numpy arrays shaped (samples, channels). scipy resamples, pyloudnorm measures
and normalises BS.1770 loudness; what is left here is slicing and a few gains.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np

MIN_LOUDNESS_SECONDS = 0.4  # BS.1770 gates on 400 ms blocks: shorter clips have no integrated loudness
PEAK_CEILING_DBFS = -1.0
SILENCE_DBFS = -60.0  # trimming threshold, relative to full scale
FADE_SECONDS = 0.005
HIGHPASS_HZ = 20.0
NORMALISE_PASSES = 3
LOOP_CROSSFADE_SECONDS = 0.05
LOOP_SEARCH_SECONDS = 0.25  # how far past the asked length the loop cut may move to find a zero crossing


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return float(20.0 * np.log10(max(gain, 1e-12)))


def as_frames(audio: Any) -> np.ndarray:
    """(samples, channels) float32 from a pipeline's output: (channels, samples) or (samples,), numpy or torch."""
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio[:, None]
    if audio.ndim != 2:
        raise ValueError(f"audio must have 1 or 2 dimensions, not shape {audio.shape}")
    return np.ascontiguousarray(audio.T)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Down-mix to mono (mean) or duplicate mono to stereo."""
    if audio.shape[1] == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=1, keepdims=True)
    return np.repeat(audio[:, :1], channels, axis=1)


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy) by the exact rational factor between the rates."""
    if source_rate == target_rate:
        return audio
    from scipy.signal import resample_poly

    common = gcd(source_rate, target_rate)
    return resample_poly(audio, target_rate // common, source_rate // common, axis=0).astype(np.float32)


def remove_dc(audio: np.ndarray, rate: int, cutoff_hz: float = HIGHPASS_HZ) -> np.ndarray:
    """A zero-phase 2nd-order Butterworth high-pass (scipy): removes DC offset and sub-sonic rumble,
    which would otherwise eat headroom and be boosted by loudness normalisation (BS.1770 ignores them)."""
    from scipy.signal import butter, sosfiltfilt

    if audio.shape[0] < 64:
        return audio - audio.mean(axis=0)
    sos = butter(2, cutoff_hz, btype="highpass", fs=rate, output="sos")
    return sosfiltfilt(sos, audio, axis=0).astype(np.float32)


def trim_silence(audio: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> np.ndarray:
    """Drop leading and trailing samples quieter than the threshold on every channel."""
    loud = np.flatnonzero(np.abs(audio).max(axis=1) > db_to_gain(threshold_dbfs))
    if loud.size == 0:
        return audio
    return audio[loud[0]: loud[-1] + 1]


def fade(audio: np.ndarray, rate: int, seconds: float = FADE_SECONDS) -> np.ndarray:
    """Short raised-cosine fade in and out, so the clip starts and ends at zero without a click."""
    length = min(int(rate * seconds), audio.shape[0] // 2)
    if length < 2:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length, dtype=np.float32)))[:, None]
    faded = audio.copy()
    faded[:length] *= ramp
    faded[-length:] *= ramp[::-1]
    return faded


def peak(audio: np.ndarray) -> float:
    return float(np.abs(audio).max()) if audio.size else 0.0


def measure_loudness(audio: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS (BS.1770, pyloudnorm), or None when the clip is too short to measure
    or silent (the gated loudness of silence is -inf)."""
    if audio.shape[0] < MIN_LOUDNESS_SECONDS * rate:
        return None
    import pyloudnorm

    value = pyloudnorm.Meter(rate).integrated_loudness(audio)
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class Leveled:
    """A signal after loudness normalisation and the peak ceiling, and how it got there."""

    audio: np.ndarray
    mode: str  # "loudness": normalised to the target LUFS; "peak": too short to measure, peak-normalised
    loudness_lufs: float | None
    peak_dbfs: float
    ceiling_gain_db: float  # gain the peak ceiling took off after normalising (0: none)


def level(audio: np.ndarray, rate: int, target_lufs: float, ceiling_dbfs: float = PEAK_CEILING_DBFS) -> Leveled:
    """Normalise to ``target_lufs`` (or the peak to the ceiling when the clip is shorter than BS.1770
    can measure), then scale down whatever still peaks above ``ceiling_dbfs``."""
    import pyloudnorm

    measured = measure_loudness(audio, rate)
    if measured is not None:
        mode = "loudness"
        # A gain moves blocks across BS.1770's absolute gate (-70 LUFS), which shifts the measurement
        # itself: a second or third pass converges.
        for _ in range(NORMALISE_PASSES):
            with warnings.catch_warnings():  # "possible clipped samples": the peak ceiling below handles it
                warnings.simplefilter("ignore", UserWarning)
                audio = pyloudnorm.normalize.loudness(audio, measured, target_lufs).astype(np.float32)
            measured = measure_loudness(audio, rate)
            if measured is None or abs(measured - target_lufs) < 0.01:
                break
    else:
        audio, mode = audio * (db_to_gain(ceiling_dbfs) / max(peak(audio), 1e-12)), "peak"
    ceiling = db_to_gain(ceiling_dbfs)
    over = peak(audio) / ceiling
    ceiling_gain_db = 0.0
    if over > 1.0:
        audio, ceiling_gain_db = audio / over, -gain_to_db(over)
    audio = audio.astype(np.float32)
    return Leveled(audio, mode, measure_loudness(audio, rate), gain_to_db(peak(audio)), round(ceiling_gain_db, 2))


def loop_jump(audio: np.ndarray) -> float:
    """The largest step across the loop point (last sample -> first sample) over the channels."""
    return float(np.abs(audio[0] - audio[-1]).max())


def typical_step(audio: np.ndarray, percentile: float = 99.0) -> float:
    """The size of step the signal itself takes (99th percentile of its sample-to-sample steps, loudest
    channel): a seamless loop point stays within it, a click does not. (The median would fail a
    perfectly periodic sine, which wraps on its steepest step.)"""
    steps = np.abs(np.diff(audio, axis=0))
    return float(np.percentile(steps, percentile, axis=0).max()) if steps.size else 0.0


def make_loop(audio: np.ndarray, rate: int, length: int, crossfade_seconds: float = LOOP_CROSSFADE_SECONDS,
              search_seconds: float = LOOP_SEARCH_SECONDS) -> tuple[np.ndarray, int]:
    """Cut exactly ``length`` samples that loop seamlessly from a longer take; return (loop, start offset).

    The take is cut at the requested length on a zero crossing (within ``search_seconds`` of it, the
    one with the smallest step across it); the take's continuation past the cut is crossfaded into the
    loop's head with equal-power curves, so playback wrapping from the last sample lands exactly where
    the take went on, and the loop is exactly ``length`` samples.
    """
    fade_len = int(rate * crossfade_seconds)
    spare = audio.shape[0] - length - fade_len
    if spare < 0:
        raise ValueError(f"a {length}-sample loop needs a take of at least {length + fade_len} samples, "
                         f"not {audio.shape[0]}")
    mono = audio.mean(axis=1)
    window = min(spare, int(rate * search_seconds))
    after_cut = mono[length: length + window + 1]
    crossings = np.flatnonzero(np.signbit(after_cut[:-1]) != np.signbit(after_cut[1:])) + 1
    starts = crossings if crossings.size else np.array([0])  # cut at length + start: loop starts at start
    theta = np.linspace(0.0, np.pi / 2, fade_len, endpoint=False, dtype=np.float32)[:, None]
    head_in, tail_out = np.sin(theta), np.cos(theta)

    # The loop's last sample is take[start + length - 1]; its first, after the crossfade, is
    # take[start + length]: the step across the loop point is the take's own step at the cut.
    steps = np.abs(audio[starts + length] - audio[starts + length - 1]).max(axis=1)
    start = int(starts[int(np.argmin(steps))])
    loop = audio[start: start + length].copy()
    continuation = audio[start + length: start + length + fade_len]
    loop[:fade_len] = loop[:fade_len] * head_in + continuation * tail_out
    return loop, start
