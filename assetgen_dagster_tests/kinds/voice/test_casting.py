"""Voice casting on the tiny kit: a character's reference clip is the TTS model's audio prompt for
each of its lines (named in their provenance), replacing it regenerates that character's lines only,
every line is heard back by the tiny Whisper (transcript, word error rate, word timings, .srt) and a
line above its threshold is left out of the pack; a voiced dialogue writes one clip per Yarn line id;
bad casts are refused naming file, item and field."""

import hashlib
import json
import shutil

import numpy as np
import pytest

from assetgen_dagster.kinds.audio import files

from ...conftest import (
    PROJECT_ROOT,
    checks_of,
    materialize_batch,
    metadata_of,
    shared_workdir,
    step_failure,
    write_batch,
)

VOICE_ASSETS = ["voice", "voice_transcripts", "asset_pack"]
REFERENCE = PROJECT_ROOT / "data" / "prompts" / "voices" / "gruff_male.wav"

CAST = """\
    defaults: {seed: 3}
    voices:
      guard: {reference: refs/guard.wav, transcript: "Ah, oh. Ee, eh, ah."}
      witch: {reference: refs/witch.flac, transcript: "Oh, ee, ah.", speaker: S2}
      innkeeper: {speaker: S2}
    items:
      - {id: guard_halt, kind: voice, text: "Halt! Who goes there?", voice: guard}
      - {id: guard_night, kind: voice, text: "Another quiet night.", voice: guard, emotion: sighs}
      - {id: witch_cackle, kind: voice, text: "Come closer, dearie.", voice: witch}
      - {id: inn_hello, kind: voice, text: "Rooms are 3 silver.", voice: innkeeper}
      - {id: tag_line, kind: voice, text: "Just a tag.", voice: S1}
    """


def tone(path, hz, seconds=2.0, rate=22050, fmt=None):
    """A test reference: a tone with a vibrato, written as WAV or FLAC."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.4 * np.sin(2 * np.pi * hz * t + 3 * np.sin(2 * np.pi * 5 * t))).astype(np.float32),
                    rate, format=fmt)


def make_cast(root):
    refs = root / "prompts" / "refs"
    refs.mkdir()
    shutil.copy(REFERENCE, refs / "guard.wav")
    tone(refs / "witch.flac", 330, fmt="FLAC")
    write_batch(root / "prompts", "cast", CAST)
    result, instance = materialize_batch(VOICE_ASSETS, "cast")
    assert result.success
    return result, instance, root / "outputs" / "cast", refs


@pytest.fixture
def cast(shared_cast, workdir):
    """The cast batch in this test's own folders (for a test that edits it or its references): a copy
    of the shared one's batch, references and outputs, which a run here must find current."""
    from dagster import DagsterInstance

    result, _, out, _ = shared_cast
    shutil.copytree(out.parent.parent / "prompts", workdir / "prompts", dirs_exist_ok=True)
    shutil.copytree(out, workdir / "outputs" / "cast", symlinks=True)
    return result, DagsterInstance.ephemeral(), workdir / "outputs" / "cast", workdir / "prompts" / "refs"


@pytest.fixture(scope="module")
def shared_cast(tiny_kit, tmp_path_factory):
    """The cast batch made once for the tests that only read it (they may add batches beside it)."""
    with shared_workdir(tmp_path_factory, "cast") as root:
        yield make_cast(root)


def provenance(path):
    return json.loads(files.decode(path.read_bytes()).comment)


def mtimes(folder):
    return {path.name: path.stat().st_mtime_ns for path in sorted(folder.glob("*.wav"))}


def test_a_referenced_voice_is_named_in_each_line_and_shapes_its_audio(shared_cast):
    result, _, out, refs = shared_cast
    guard_sha = hashlib.sha256((refs / "guard.wav").read_bytes()).hexdigest()
    for item in ("guard_halt", "guard_night"):
        spoken = provenance(out / "voice" / f"{item}.wav")
        assert (spoken["voice"], spoken["reference"], spoken["reference_sha256"]) == ("guard", "refs/guard.wav",
                                                                                       guard_sha)
        assert spoken["script"].startswith("[S1] Ah, oh. Ee, eh, ah. [S1]")  # transcript, then the line
    witch = provenance(out / "voice" / "witch_cackle.wav")
    assert witch["script"].startswith("[S2] Oh, ee, ah. [S2] Come closer")
    inn, tag = provenance(out / "voice" / "inn_hello.wav"), provenance(out / "voice" / "tag_line.wav")
    assert inn["reference"] is None and inn["script"] == "[S2] Rooms are 3 silver."
    assert tag["reference"] is None and tag["seed"] == metadata_of(result, "voice")["seeds"]["tag_line"]
    # A cast entry without a reference speaks with a seed fixed per character, not the item's.
    from assetgen_dagster.batches import item_seed
    from assetgen_dagster.kinds.voice.cast import character_seed

    from ...conftest import load_batch

    batch = load_batch(out.parent.parent / "prompts" / "cast.yaml")
    assert inn["seed"] == character_seed(batch, "innkeeper") != item_seed(batch, batch.item("inn_hello"))


def test_the_reference_is_the_audio_prompt(shared_cast):
    """The same line, seed and speaker with another reference clip sounds different: the clip is
    really given to the model (a reference that did nothing would leave the samples equal)."""
    _, _, out, refs = shared_cast
    tone(refs / "other.wav", 180)
    write_batch(refs.parent, "swap", CAST.replace("refs/guard.wav", "refs/other.wav"))
    assert materialize_batch(["voice"], "swap")[0].success
    ours = files.decode((out / "voice" / "guard_halt.wav").read_bytes()).audio
    theirs = files.decode((out.parent / "swap" / "voice" / "guard_halt.wav").read_bytes()).audio
    assert ours.shape != theirs.shape or not np.array_equal(ours, theirs)
    untouched = [files.decode((folder / "voice" / "tag_line.wav").read_bytes()).audio for folder in (out, out.parent / "swap")]
    assert np.array_equal(*untouched)  # same line, no reference: the same samples in both batches


def test_replacing_a_reference_regenerates_that_characters_lines_only(cast):
    _, instance, out, refs = cast
    before = mtimes(out / "voice")
    tone(refs / "guard.wav", 150)  # the guard's actor re-recorded
    result, _ = materialize_batch(VOICE_ASSETS, "cast", instance=instance)
    assert result.success
    after = mtimes(out / "voice")
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"guard_halt.wav", "guard_night.wav"}
    assert metadata_of(result, "voice")["generated"] == 2 and metadata_of(result, "voice")["reused"] == 3
    assert metadata_of(result, "voice_transcripts")["generated"] == 2  # heard again: their audio changed


def test_each_line_is_heard_back_with_a_transcript_an_error_rate_and_word_timings(shared_cast):
    result, _, out, _ = shared_cast
    evaluation = checks_of(result)[("voice_transcripts", "speech_matches_text")]
    assert evaluation.passed  # the tiny kit's threshold (100) records the figure without blocking
    for item in ("guard_halt", "inn_hello"):
        record = json.loads((out / "voice_transcripts" / f"{item}.json").read_text())
        assert record["transcript"] and record["wer"] > 0.25  # gibberish, heard as such
        assert record["words"] and all(0 <= w["start"] <= w["end"] <= record["seconds"] for w in record["words"])
        srt = (out / "voice_transcripts" / f"{item}.srt").read_text()
        assert srt.startswith("1\n00:00:0") and record["words"][0]["word"] in srt
    stats = metadata_of(result, "voice_transcripts")["item_stats"]
    assert stats["guard_halt"]["max_wer_heard"] == json.loads(
        (out / "voice_transcripts" / "guard_halt.json").read_text())["wer"]
    recognizer = metadata_of(result, "voice_transcripts")["models"]["speech_recognition"]
    assert recognizer["model"] == "assetgen-tiny/speech-recognition" and recognizer["model_mb"] > 0  # what the budget counts
    from assetgen_dagster.models.cache import MODEL_CACHE  # one recognizer in the process, shared by every run

    assert sum("speech-recognition" in str(key) for key in MODEL_CACHE.keys()) == 1


def test_a_line_above_its_threshold_fails_the_check_and_stays_out_of_the_pack(cast, workdir):
    _, instance, out, _ = cast
    strict = CAST.replace('text: "Just a tag.", voice: S1}', 'text: "Just a tag.", voice: S1, max_wer: 0.0}')
    write_batch(workdir / "prompts", "cast", strict)
    result, _ = materialize_batch(VOICE_ASSETS, "cast", instance=instance)
    evaluation = checks_of(result)[("voice_transcripts", "speech_matches_text")]
    assert not evaluation.passed and "tag_line" in evaluation.description and "> 0.0" in evaluation.description
    assert metadata_of(result, "voice")["generated"] == 0  # the threshold is not the audio's identity
    assert metadata_of(result, "voice_transcripts")["generated"] == 1
    manifest = json.loads((out / "asset_pack" / "manifest.json").read_text())
    assert "speech_matches_text" in manifest["missing"]["tag_line"]
    packed = {entry["path"] for item in manifest["items"] for entry in item["files"]}
    assert "audio/voice/tag_line.wav" not in packed and "audio/voice/guard_halt.wav" in packed
    assert not checks_of(result)[("asset_pack", "complete")].passed

    lenient = CAST.replace("defaults: {seed: 3}", "defaults: {seed: 3, max_wer: 50.0}")
    write_batch(workdir / "prompts", "cast", lenient)  # the batch's threshold, above what was heard
    result, _ = materialize_batch(VOICE_ASSETS, "cast", instance=instance)
    assert checks_of(result)[("voice_transcripts", "speech_matches_text")].passed
    assert checks_of(result)[("asset_pack", "complete")].passed


DIALOGUE = """\
    defaults: {seed: 9}
    voices:
      Smith: {reference: refs/guard.wav, transcript: "Ah, oh. Ee, eh, ah."}
      Player: {speaker: S2}
    items:
      - id: smith-talk
        kind: dialogue
        prompt: "the player asks the smith about a sword"
        speakers: [{id: Smith, persona: "gruff smith"}, {id: Player, persona: "curious adventurer"}]
        lines: 3
        voiced: true
      - id: quiet
        kind: dialogue
        prompt: "a silent scene"
        speakers: [{id: Smith, persona: "gruff smith"}]
        lines: 1
    """


def test_a_voiced_dialogue_writes_one_clip_per_yarn_line_id(tiny_kit, workdir):
    refs = workdir / "prompts" / "refs"
    refs.mkdir()
    shutil.copy(REFERENCE, refs / "guard.wav")
    write_batch(workdir / "prompts", "talk", DIALOGUE)
    result, _ = materialize_batch(["dialogue", "localization", "dialogue_voice", "voice_transcripts", "asset_pack"], "talk")
    assert result.success
    out = workdir / "outputs" / "talk"
    record = json.loads((out / "dialogue" / "smith-talk.json").read_text())
    ids = [line["id"] for line in record["lines"]]
    assert ids == ["smith_talk_01", "smith_talk_02", "smith_talk_03"]
    assert sorted(p.name for p in (out / "dialogue_voice" / "smith-talk").iterdir()) == sorted(
        f"{i}{ext}" for i in ids for ext in (".wav", ".ogg"))
    assert not (out / "dialogue_voice" / "quiet").exists()  # not voiced: no clips, no gap in the pack
    for line in record["lines"]:
        spoken = provenance(out / "dialogue_voice" / "smith-talk" / f"{line['id']}.wav")
        line_fields = dict(next(fields for line_id, fields in spoken["spoken_lines"] if line_id == line["id"]))
        assert line_fields["voice"] == line["speaker"]
        assert (line_fields["reference"] is not None) == (line["speaker"] == "Smith")
        heard = json.loads((out / "voice_transcripts" / "smith-talk" / f"{line['id']}.json").read_text())
        assert heard["text"] == line["text"] and heard["voice"] == line["speaker"]
    manifest = json.loads((out / "asset_pack" / "manifest.json").read_text())
    assert manifest["missing"] == {}
    packed = {entry["path"] for item in manifest["items"] for entry in item["files"]}
    for line_id in ids:
        for name in (f"{line_id}.wav", f"{line_id}.ogg", f"{line_id}.ogg.import", f"{line_id}.json", f"{line_id}.srt"):
            assert f"audio/dialogue/{name}" in packed
    assert "loop=false" in (out / "asset_pack" / "audio" / "dialogue" / f"{ids[0]}.ogg.import").read_text()
    page = (out / "asset_pack" / "index.html").read_text()  # the review page: each line with its player
    for line_id in ids:
        assert (f'<small>#{line_id}</small><figure class="audio"><audio controls preload="none" '
                f'src="audio/dialogue/{line_id}.ogg">') in page
    yarn = (out / "asset_pack" / "text" / "dialogue" / "smith-talk.yarn").read_text()
    assert all(f"#line:{line_id}" in yarn for line_id in ids)  # the ids the clips are named by


def test_clips_spoken_from_older_lines_are_not_heard_against_new_ones(tiny_kit, workdir):
    """The dialogue re-written but not re-voiced: hearing it would compare old audio with new text
    (and new line ids with no clip); the step says what to materialize instead."""
    refs = workdir / "prompts" / "refs"
    refs.mkdir()
    shutil.copy(REFERENCE, refs / "guard.wav")
    write_batch(workdir / "prompts", "talk", DIALOGUE)
    assert materialize_batch(["dialogue", "dialogue_voice", "voice_transcripts"], "talk")[0].success
    write_batch(workdir / "prompts", "talk", DIALOGUE.replace("lines: 3", "lines: 4"))
    result, _ = materialize_batch(["dialogue", "voice_transcripts"], "talk")
    assert not result.success
    assert "spoken from an earlier version of its lines; materialize `dialogue_voice`" in step_failure(result)
    assert materialize_batch(["dialogue_voice", "voice_transcripts"], "talk")[0].success


@pytest.mark.parametrize(("cast_yaml", "item", "field", "says"), [
    ('guard: {reference: ../outside.wav, transcript: "x"}', "voice: guard", "voices", "inside the prompts folder"),
    ('guard: {reference: /etc/guard.wav, transcript: "x"}', "voice: guard", "voices", "inside the prompts folder"),
    ("guard: {reference: refs/guard.wav}", "voice: guard", "voices", "transcript"),
    ('guard: {reference: refs/guard.txt, transcript: "x"}', "voice: guard", "voices", "must be an audio file"),
    ("guard: {speaker: S3}", "voice: guard", "voices", "'S1' or 'S2'"),
    ("guard: {speaker: S1}", "voice: captain", "voice", "neither a name in the batch's voices (guard)"),
])
def test_a_bad_cast_is_refused_naming_file_item_and_field(cast_yaml, item, field, says):
    from assetgen_dagster.batches import BatchError

    from ...conftest import parse_batch

    text = f'voices:\n  {cast_yaml}\nitems:\n  - {{id: line, kind: voice, text: "Hello there.", {item}}}\n'
    with pytest.raises(BatchError) as caught:
        parse_batch(text, "cast.yaml")
    message = str(caught.value)
    assert message.startswith("cast.yaml:") and field in message and says in message, message


def test_a_voiced_dialogue_needs_a_voice_per_speaker():
    from assetgen_dagster.batches import BatchError

    from ...conftest import parse_batch

    text = DIALOGUE.replace("      Player: {speaker: S2}\n", "")
    with pytest.raises(BatchError, match=r"item 'smith-talk' \(items\[0\]\), field 'speakers\[1\]\.id': 'Player' has "
                                         r"no entry in the batch's voices \(Smith\)"):
        parse_batch(__import__("textwrap").dedent(text), "talk.yaml")


@pytest.mark.parametrize(("make", "says"), [
    (lambda refs: (refs / "guard.wav").write_text("not audio at all"), "is not a WAV, OGG or FLAC file"),
    (lambda refs: tone(refs / "guard.wav", 200, seconds=0.3), "is 0.3 s long; a reference is 1-20 s"),
    (lambda refs: (refs / "guard.wav").symlink_to("/etc/hostname"), "resolves outside the prompts folder"),
    (lambda refs: None, "cannot be read"),
])
def test_an_unusable_reference_fails_its_batch_once_naming_file_item_and_field(tiny_kit, workdir, make, says):
    refs = workdir / "prompts" / "refs"
    refs.mkdir()
    make(refs)
    write_batch(workdir / "prompts", "bad", 'voices:\n  guard: {reference: refs/guard.wav, transcript: "Ah."}\n'
                                            'items:\n  - {id: halt, kind: voice, text: "Halt!", voice: guard}\n')
    result, _ = materialize_batch(["voice"], "bad")
    assert not result.success
    message = step_failure(result)
    assert "bad.yaml" in message and "item 'halt'" in message and "voices.guard.reference" in message, message
    assert says in message, message
    from dagster import DagsterEventType

    restarts = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_RESTARTED]
    assert restarts == []  # bad input: not retried
