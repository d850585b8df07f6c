"""Post-processing, files and checks on synthetic signals whose right answers are known."""

import numpy as np
import pytest

from assetgen_dagster.kinds.audio import AudioArtifact, dsp, files
from assetgen_dagster.kinds.audio.checks import duration_as_asked, loop_seamless, loudness_on_target, no_clipping, not_silent

RATE = 48000


def sine(seconds, freq=440.0, amplitude=0.5, rate=RATE, channels=1):
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)[:, None], channels, axis=1)


def artifact(audio, rate=RATE, loop=None):
    return AudioArtifact(audio, rate, loop, dsp.measure_loudness(audio, rate), dsp.gain_to_db(dsp.peak(audio)))


def test_a_sine_has_its_textbook_loudness_and_is_levelled_to_target():
    # BS.1770: a full-scale 997 Hz sine in one channel measures -3.01 LUFS; at amplitude 0.5, -9.03.
    assert dsp.measure_loudness(sine(2.0, 997.0, 0.5), RATE) == pytest.approx(-9.03, abs=0.1)
    leveled = dsp.level(sine(2.0, 997.0, 0.5), RATE, -23.0)
    assert leveled.mode == "loudness" and leveled.loudness_lufs == pytest.approx(-23.0, abs=0.05)
    assert loudness_on_target(-23.0, artifact(leveled.audio)).passed
    assert not loudness_on_target(-16.0, artifact(leveled.audio)).passed


def test_normalising_a_quiet_clip_converges_across_the_absolute_gate():
    # 2 s at -63 LUFS, then 2 s at -71 LUFS: the second half is under BS.1770's -70 LUFS gate until
    # the gain lifts it, which changes the measurement itself; one pass lands ~1.5 LU off target.
    quiet = np.concatenate([sine(2.0, 997.0, 10 ** (-59.99 / 20)), sine(2.0, 997.0, 10 ** (-67.99 / 20))])
    leveled = dsp.level(quiet, RATE, -23.0)
    assert leveled.loudness_lufs == pytest.approx(-23.0, abs=0.05)


def test_the_peak_ceiling_wins_over_a_loudness_target_it_cannot_reach():
    leveled = dsp.level(sine(2.0, 997.0, 0.1), RATE, -2.0)  # -2 LUFS would need peaks above 0 dBFS
    assert leveled.peak_dbfs == pytest.approx(-1.0, abs=1e-4) and leveled.ceiling_gain_db < 0
    verdict = loudness_on_target(-2.0, artifact(leveled.audio))
    assert not verdict.passed and "LU from the -2.0 LUFS target" in verdict.message


def test_clips_too_short_for_bs1770_are_peak_normalised_and_marked():
    short = sine(0.3, amplitude=0.05)
    assert dsp.measure_loudness(short, RATE) is None
    leveled = dsp.level(short, RATE, -23.0)
    assert leveled.mode == "peak" and leveled.peak_dbfs == pytest.approx(-1.0, abs=1e-4)
    verdict = loudness_on_target(-23.0, artifact(leveled.audio))
    assert verdict.passed and verdict.figures["mode"] == "peak"


def test_clipping_and_silence_are_caught():
    clipped = np.clip(sine(1.0, amplitude=2.0), -1.0, 1.0)
    verdict = no_clipping(artifact(clipped))
    assert not verdict.passed and verdict.figures["peak_dbfs"] == 0.0
    assert no_clipping(artifact(dsp.level(clipped, RATE, -23.0).audio)).passed
    assert not not_silent(artifact(np.zeros((RATE, 1), np.float32))).passed
    assert not_silent(artifact(sine(1.0, amplitude=0.01))).passed


def test_a_clip_of_the_wrong_length_fails_duration_as_asked():
    two_seconds = artifact(sine(2.0))
    assert duration_as_asked(2.0, two_seconds, exact=False).passed
    assert duration_as_asked(2.05, two_seconds, exact=False).passed  # within 5 %
    assert duration_as_asked(2.5, two_seconds, exact=False).message == "2.0 s is -20.0% from the asked 2.5 s"
    assert duration_as_asked(2.0, two_seconds, exact=True).passed
    one_short = artifact(sine(2.0)[:-1])
    assert not duration_as_asked(2.0, one_short, exact=True).passed  # a loop: to the sample


def test_dc_offset_is_removed_and_the_tone_kept():
    offset = sine(1.0, 440.0, 0.3) + 0.4
    cleaned = dsp.remove_dc(offset, RATE)
    assert abs(float(cleaned[RATE // 4: -RATE // 4].mean())) < 1e-3
    assert dsp.peak(cleaned[RATE // 4: -RATE // 4]) == pytest.approx(0.3, abs=0.01)


def test_resample_trim_and_fade():
    audio = dsp.resample(sine(1.0, rate=16000), 16000, 44100)
    assert audio.shape == (44100, 1)
    padded = np.concatenate([np.zeros((4800, 1), np.float32), sine(0.5), np.zeros((9600, 1), np.float32)])
    trimmed = dsp.trim_silence(padded)
    assert abs(trimmed.shape[0] - RATE // 2) <= 2
    faded = dsp.fade(np.ones((RATE, 2), np.float32), RATE)
    assert faded[0].max() == 0.0 and faded[-1].max() == 0.0 and faded[RATE // 2].min() == 1.0


def test_a_loop_is_exact_seamless_and_its_points_survive_the_wav_file():
    rng = np.random.default_rng(0)
    take = (sine(3.0, 110.0, 0.3, channels=2) + rng.normal(0, 0.01, (3 * RATE, 2))).astype(np.float32)
    length = round(2.37 * RATE)
    loop, start = dsp.make_loop(take, RATE, length)
    assert loop.shape == (length, 2) and start >= 0
    wav = files.with_loop(files.encode(loop, RATE, "WAV", "{}"), RATE, 0, length - 1)
    assert files.read_loop(wav) == (0, length - 1)
    clip = files.decode(wav)
    assert clip.audio.shape == (length, 2) and clip.rate == RATE
    assert loop_seamless(artifact(clip.audio, loop=files.read_loop(wav))).passed
    assert duration_as_asked(2.37, artifact(clip.audio), exact=True).passed
    assert not duration_as_asked(2.37, artifact(clip.audio[:-1]), exact=True).passed


def test_a_click_at_the_loop_point_fails_and_a_missing_or_short_loop_too():
    audio = sine(1.0, 100.0, 0.5)  # 480 samples per period: the loop would wrap at a zero crossing
    clicked = audio.copy()
    clicked[-1] = 0.5  # a jump to half scale at the loop end
    verdict = loop_seamless(artifact(clicked, loop=(0, RATE - 1)))
    assert not verdict.passed and "a click" in verdict.message
    assert loop_seamless(artifact(audio, loop=(0, RATE - 1))).passed
    assert not loop_seamless(artifact(audio, loop=None)).passed
    assert not loop_seamless(artifact(audio, loop=(0, RATE // 2))).passed


def test_the_smpl_chunk_is_well_formed_riff():
    wav = files.encode(sine(0.5), RATE, "WAV", "{}")
    looped = files.with_loop(wav, RATE, 0, 100)
    assert int.from_bytes(looped[4:8], "little") == len(looped) - 8  # RIFF size patched
    chunks = files.riff_chunks(looped)
    assert set(chunks) >= {b"fmt ", b"data", b"smpl"} and len(chunks[b"smpl"]) == 60
    assert files.read_loop(wav) is None
    with pytest.raises(ValueError):
        files.with_loop(b"OggS" + wav[4:], RATE, 0, 1)
