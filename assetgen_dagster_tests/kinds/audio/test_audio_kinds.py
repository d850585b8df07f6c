"""The audio kinds end to end on the tiny kit: the demo's batch and a held-out one decode at the asked
rate and duration, loops carry smpl loop points and wrap without a click, checks pass, the pack has
an audio/ folder, and a re-run reuses every clip."""

import json

import pytest

from assetgen_dagster.kinds.audio import files
from assetgen_dagster.kinds.audio.dsp import loop_jump, measure_loudness, typical_step

from ...conftest import (
    PROJECT_ROOT,
    checks_of,
    materialize_batch,
    metadata_of,
    write_batch,
)

ASSETS = ["sfx", "music", "voice", "voice_transcripts", "asset_pack"]

HELD_OUT = """\
    defaults: {seed: 5}
    items:
      - {id: sword_swing, kind: sfx, prompt: "a heavy sword whooshing through the air", duration: 0.8, channels: stereo, sample_rate: 44100}
      - {id: arrow_hit, kind: sfx, prompt: "an arrow thudding into a wooden target", duration: 2.5, loudness_lufs: -16.0}
      - {id: boss_theme, kind: music, prompt: "ominous orchestral boss battle, low brass", duration: 3.0, bpm: 140}
      - {id: menu_loop, kind: music, prompt: "gentle ambient menu pad", duration: 2.5, loop: true, sample_rate: 44100}
      - {id: merchant_hello, kind: voice, text: "Welcome, traveller! Care to see my wares?", voice: S2, emotion: chuckle}
    """


def run(batch_id):
    result, _ = materialize_batch(ASSETS, batch_id)
    assert result.success
    return result


@pytest.fixture(scope="module")
def demo(demo_runs):
    """The demo batch as the session's demo run made it (read only)."""
    outputs, results = demo_runs
    return results["audio_demo"], outputs / "audio_demo"


def decoded(path):
    return files.decode(path.read_bytes())


def test_every_check_passes_on_the_demo_batch(demo):
    result, _ = demo
    evaluations = checks_of(result)
    assert {check for _, check in evaluations} >= {"not_silent", "no_clipping", "loudness_on_target",
                                                    "duration_as_asked", "loop_seamless"}
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items() if not e.passed}


def test_wav_and_ogg_decode_at_the_asked_rate_duration_and_channels(demo):
    from ...conftest import load_batch

    _, out = demo
    batch = load_batch(PROJECT_ROOT / "data" / "prompts" / "audio_demo.yaml")
    for item in batch.items:
        for suffix in (".wav", ".ogg"):
            clip = decoded(out / item.kind / f"{item.id}{suffix}")
            assert clip.rate == item.sample_rate == 48000
            assert json.loads(clip.comment)["model"].startswith("assetgen-tiny/")  # provenance tag
            channels = {"sfx": 1 if getattr(item, "channels", "") == "mono" else 2, "music": 2, "voice": 1}[item.kind]
            assert clip.audio.shape[1] == channels, (item.id, suffix)
            if item.kind != "voice":
                assert clip.audio.shape[0] / clip.rate == pytest.approx(item.duration, rel=0.05), (item.id, suffix)
    loop = decoded(out / "music" / "tavern_loop.wav")
    assert loop.audio.shape[0] == 4 * 48000  # exact to the sample


def test_loop_points_read_back_from_the_smpl_chunk_and_wrap_without_a_click(demo):
    _, out = demo
    wav = (out / "music" / "tavern_loop.wav").read_bytes()
    assert files.read_loop(wav) == (0, 4 * 48000 - 1)
    audio = files.decode(wav).audio
    assert loop_jump(audio) <= typical_step(audio)
    # Wrapping around is as smooth as the music itself: the step is no outlier among all steps.
    assert files.read_loop((out / "sfx" / "door_creak.wav").read_bytes()) is None


def test_ffprobe_reads_every_ogg_as_written_and_loops_say_so(demo):
    """ffmpeg, a real client: Vorbis at the asked rate, channels and length; a looping clip carries
    LOOPSTART/LOOPLENGTH matching its WAV's smpl loop, a one-shot carries none."""
    from ...clients import ffprobe
    from ...conftest import load_batch

    _, out = demo
    batch = load_batch(PROJECT_ROOT / "data" / "prompts" / "audio_demo.yaml")
    for item in batch.items:
        ogg, wav = (out / item.kind / f"{item.id}{suffix}" for suffix in (".ogg", ".wav"))
        probed, written = ffprobe(ogg), files.decode(wav.read_bytes())
        assert (probed["codec"], probed["rate"], probed["channels"]) == (
            "vorbis", item.sample_rate, written.audio.shape[1]), item.id
        assert probed["seconds"] == pytest.approx(written.audio.shape[0] / written.rate, abs=0.002), item.id
        loop = files.read_loop(wav.read_bytes())
        assert files.read_ogg_loop(ogg.read_bytes()) == loop, item.id
        if loop is None:
            assert "LOOPSTART" not in probed["tags"], item.id
        else:
            assert (int(probed["tags"]["LOOPSTART"]), int(probed["tags"]["LOOPLENGTH"])) == (
                loop[0], loop[1] - loop[0] + 1), item.id
    assert files.read_ogg_loop((out / "music" / "tavern_loop.ogg").read_bytes()) == (0, 4 * 48000 - 1)


def test_loudness_and_peaks_are_on_target(demo):
    _, out = demo
    for name in ("sfx/door_creak", "music/tavern_loop", "voice/guard_halt"):
        clip = decoded(out / f"{name}.wav")
        assert measure_loudness(clip.audio, clip.rate) == pytest.approx(-23.0, abs=1.0), name
        assert abs(clip.audio).max() <= 10 ** (-1 / 20) + 1e-3, name
    short = decoded(out / "sfx" / "coin_pickup.wav")  # 0.3 s: peak-normalised to the ceiling
    assert abs(short.audio).max() == pytest.approx(10 ** (-1 / 20), abs=2e-3)


def test_metadata_has_per_item_figures_and_timings(demo):
    result, _ = demo
    stats = metadata_of(result, "sfx")["item_stats"]
    assert stats["coin_pickup"]["loudness_mode"] == "peak" and stats["door_creak"]["loudness_mode"] == "loudness"
    assert set(stats["door_creak"]["seconds_per_step"]) == {"generate", "post_process", "encode"}
    assert metadata_of(result, "music")["item_stats"]["tavern_loop"]["loop"] == [0, 4 * 48000 - 1]
    assert set(metadata_of(result, "voice")["models"]["voice"]["companions"]) == {"assetgen-tiny/audio-codec"}  # codec
    preview = metadata_of(result, "voice")["preview"]  # waveform + spectrogram contact sheet, and a table
    assert preview.startswith("**audio_demo: voice lines**") and "data:image/" in preview
    assert "| guard_halt | 2777478616 | Halt! Who goes there? | all pass |" in preview


def test_voice_lines_have_subtitle_records_heard_back_with_word_timings(demo):
    _, out = demo
    record = json.loads((out / "voice_transcripts" / "guard_sigh.json").read_text())
    from assetgen_dagster.tiny import snapshot_commit  # the codec Dia loads beside it, pinned in provenance
    spoken = json.loads(decoded(out / "voice" / "guard_sigh.wav").comment)
    assert spoken["companions"] == {"assetgen-tiny/audio-codec": snapshot_commit("assetgen-tiny/audio-codec")}
    assert record["_provenance"]["model"] == "assetgen-tiny/speech-recognition"
    clip = decoded(out / "voice" / "guard_sigh.wav")
    assert record["text"] == "Another quiet night in the forest. I hope." and record["emotion"] == "sighs"
    assert record["voice"] == "guard"
    assert record["seconds"] == pytest.approx(clip.audio.shape[0] / clip.rate, abs=1e-3)
    assert isinstance(record["transcript"], str) and record["wer"] >= 0.0 and record["max_wer"] == 100.0
    starts = [word["start"] for word in record["words"]]
    assert record["words"] and starts == sorted(starts)
    assert all(0.0 <= word["start"] <= word["end"] <= record["seconds"] for word in record["words"])
    cues = (out / "voice_transcripts" / "guard_sigh.srt").read_text().strip().split("\n\n")
    assert cues[0].split("\n")[0] == "1" and " --> " in cues[0].split("\n")[1]


def test_the_pack_carries_an_audio_folder_in_its_manifest(demo):
    _, out = demo
    pack = out / "asset_pack"
    names = {str(path.relative_to(pack)) for path in pack.rglob("*") if path.is_file()}
    manifest = json.loads((pack / "manifest.json").read_text())
    for path in ("audio/sfx/door_creak.wav", "audio/sfx/door_creak.ogg", "audio/music/tavern_loop.wav",
                 "audio/voice/guard_halt.ogg", "audio/voice/guard_halt.json", "audio/voice/guard_halt.srt"):
        assert path in names
    listed = json.dumps(manifest)
    assert "audio/music/tavern_loop.wav" in listed
    page = (pack / "index.html").read_text()  # the review page: a player per clip, the line, a spectrogram
    assert page.count("<audio controls") == 6 and '<audio controls preload="none" src="audio/music/tavern_loop.ogg"' in page
    assert "Another quiet night in the forest. I hope." in page and "tavern_loop.wav waveform and spectrogram" in page


def test_a_held_out_batch_runs_the_same_way_and_a_rerun_reuses_everything(tiny_kit, workdir):
    write_batch(workdir / "prompts", "held_out_audio", HELD_OUT)
    result = run("held_out_audio")
    evaluations = checks_of(result)
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items() if not e.passed}
    out = workdir / "outputs" / "held_out_audio"
    swing = decoded(out / "sfx" / "sword_swing.wav")
    assert swing.rate == 44100 and swing.audio.shape[1] == 2
    arrow = decoded(out / "sfx" / "arrow_hit.wav")
    assert measure_loudness(arrow.audio, arrow.rate) == pytest.approx(-16.0, abs=1.0)
    menu = (out / "music" / "menu_loop.wav").read_bytes()
    assert files.read_loop(menu) == (0, round(2.5 * 44100) - 1)

    again = run("held_out_audio")
    for asset in ("sfx", "music", "voice"):
        assert metadata_of(again, asset)["generated"] == 0, asset


@pytest.mark.parametrize("item, field, words", [
    ("{id: boom, kind: sfx, prompt: boom, duration: 45}", "duration", "less than or equal to 30"),
    ("{id: song, kind: music, prompt: song, duration: 10, loop: yes-please}", "loop", "boolean"),
    ("{id: hey, kind: voice, text: hey, emotion: angry}", "emotion", "'laughs'"),
    ("{id: hey, kind: voice, text: '   '}", "text", "must not be blank"),
    ("{id: hum, kind: sfx, prompt: hum, sample_rate: 22050}", "sample_rate", "44100"),
    ("{id: song, kind: music, prompt: song, negative_prompt: drums}", "negative_prompt", "takes no negative prompt"),
])
def test_bad_audio_items_name_the_file_item_and_field(workdir, item, field, words):
    from assetgen_dagster.batches import BatchError

    from ...conftest import load_batch

    path = write_batch(workdir / "prompts", "bad_audio", f"items:\n  - {item}\n")
    with pytest.raises(BatchError) as error:
        load_batch(path)
    message = str(error.value)
    assert "bad_audio.yaml" in message and "items[0]" in message and f"field '{field}'" in message and words in message


HARD_TAKES = """\
    items:
      - {id: fading_loop, kind: music, prompt: "a loop whose ends do not meet", duration: 2.0, loop: true, seed: 1}
      - {id: spiky_hit, kind: sfx, prompt: "a hit far louder at its peaks", duration: 1.0, loudness_lufs: -16.0, seed: 2}
    """


def test_a_take_whose_ends_do_not_meet_loops_without_a_click_and_a_peaky_one_stays_under_the_ceiling(
        tiny_kit, workdir, monkeypatch):
    """The models' takes swapped for two hard ones; everything after the model is the real path
    (resample, loop cut and crossfade, loudness, ceiling, WAV smpl chunk, checks on the file read back):
    - a tone fading from loud to quiet over a non-whole number of periods: cut on a zero crossing in
      the quiet tail, the loop's head is loud and out of phase, a click unless the continuation is
      crossfaded into it;
    - a tone with a few spikes nearly four times its amplitude: at -16 LUFS the spikes would peak
      above -1 dBFS unless the ceiling scales the clip down (a little: it stays within 1 LU)."""
    import numpy as np

    from assetgen_dagster.kinds.music import Music
    from assetgen_dagster.kinds.sfx import SoundEffects

    def fading_tone(self, pipe, request):
        rate = 48000
        t = np.arange(int(request.take_seconds * rate)) / rate
        tone = 0.5 * np.exp(-2.0 * t) * np.sin(2 * np.pi * 233.3 * t)
        return np.stack([tone, tone]).astype(np.float32), rate

    def spiky_tone(self, pipe, request):
        rate = 48000
        t = np.arange(int(request.duration * rate)) / rate
        tone = 0.2 * np.sin(2 * np.pi * 440.0 * t)
        tone[::9600] = 0.75  # five spikes, 3.75 times the tone's amplitude: peaks 0.2 dB over the ceiling at -16 LUFS
        return tone.astype(np.float32), rate

    monkeypatch.setattr(Music, "take", fading_tone)
    monkeypatch.setattr(SoundEffects, "take", spiky_tone)
    write_batch(workdir / "prompts", "hard", HARD_TAKES)
    result, _ = materialize_batch(["music", "sfx"], "hard")
    evaluations = checks_of(result)
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items() if not e.passed}
    loop = decoded(workdir / "outputs" / "hard" / "music" / "fading_loop.wav")
    assert loop_jump(loop.audio) <= typical_step(loop.audio) * 1.01
    hit = decoded(workdir / "outputs" / "hard" / "sfx" / "spiky_hit.wav")
    stats = json.loads((workdir / "outputs" / "hard" / "sfx" / "manifest.json").read_text())["items"]["spiky_hit"]["stats"]
    assert -1.05 <= stats["peak_dbfs"] <= -0.95  # at the ceiling: the clip was scaled down to it
    assert np.abs(hit.audio).max() < 0.9
    assert stats["loudness_lufs"] > -17.0
