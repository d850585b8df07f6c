"""The listening check's arithmetic on known strings: the normaliser, the word error rate, word
timings made safe and SubRip cues."""

import pytest

from assetgen_dagster.kinds.voice.hearing import normalise, number_words, srt, word_error_rate, word_timings


@pytest.mark.parametrize(("text", "words"), [
    ("Halt! Who goes THERE?", ["halt", "who", "goes", "there"]),
    ("Rooms are 3 silver, or 12 for the week.", ["rooms", "are", "three", "silver", "or", "twelve", "for", "the", "week"]),
    ("It costs 1,905 gold", ["it", "costs", "one", "thousand", "nine", "hundred", "five", "gold"]),
    ("2.5 apples", ["two", "point", "five", "apples"]),
    ("Don't move - café", ["dont", "move", "cafe"]),
    ("  ...  ", []),
])
def test_the_normaliser_folds_case_punctuation_accents_and_number_spelling(text, words):
    assert normalise(text) == words


@pytest.mark.parametrize(("value", "words"), [
    (0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"), (100, "one hundred"),
    (2024, "two thousand twenty four"), (1_000_001, "one million one"),
])
def test_numbers_as_words(value, words):
    assert number_words(value) == words


def test_a_number_written_either_way_is_the_same_word():
    assert word_error_rate(normalise("Rooms are 3 silver."), normalise("rooms are three silver")) == 0.0


@pytest.mark.parametrize(("reference", "heard", "wer"), [
    ("halt who goes there", "halt who goes there", 0.0),
    ("halt who goes there", "halt who go there", 0.25),  # one substitution in four
    ("halt who goes there", "who goes there", 0.25),  # one deletion
    ("halt who goes there", "halt halt who goes there", 0.25),  # one insertion
    ("halt who goes there", "", 1.0),
    ("halt", "a b c", 3.0),  # a babbling recognizer: above 1
    ("", "", 0.0),
    ("", "noise", 1.0),
])
def test_the_word_error_rate_counts_substitutions_deletions_and_insertions(reference, heard, wer):
    assert word_error_rate(reference.split(), heard.split()) == pytest.approx(wer)


def test_word_timings_stay_inside_the_clip_and_never_go_back():
    chunks = [{"text": " Halt", "timestamp": (0.0, 0.4)}, {"text": "\x1f\x7f", "timestamp": (0.5, 0.6)},
              {"text": " who", "timestamp": (0.3, None)}, {"text": " goes", "timestamp": (29.8, 29.8)}]
    words = word_timings(chunks, seconds=2.0)
    assert words == [{"word": "Halt", "start": 0.0, "end": 0.4}, {"word": "who", "start": 0.3, "end": 0.3},
                     {"word": "goes", "start": 2.0, "end": 2.0}]


def test_srt_cues_hold_at_most_seven_words_with_clock_times():
    words = [{"word": f"w{i}", "start": i * 0.5, "end": i * 0.5 + 0.4} for i in range(9)]
    cues = srt(words, "unused", 5.0).strip().split("\n\n")
    assert cues[0] == "1\n00:00:00,000 --> 00:00:03,400\nw0 w1 w2 w3 w4 w5 w6"
    assert cues[1] == "2\n00:00:03,500 --> 00:00:04,400\nw7 w8"
    assert srt([], "Halt! Who goes there?", 1.25) == "1\n00:00:00,000 --> 00:00:01,250\nHalt! Who goes there?\n"
