"""What a speech recognizer heard, compared with what a line should say: a normaliser, the word
error rate, word timings made safe to ship, and SubRip (.srt) subtitles. Pure Python.

The normaliser folds what a listener cannot hear: case, punctuation, and how a number is written
("3" and "three" are the same word, so digits are spelled out on both sides).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"), (100, "hundred"))
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
MAX_CUE_WORDS, MAX_CUE_CHARS = 7, 42  # a subtitle line that reads at a glance


def number_words(value: int) -> str:
    """An integer in English words: 21 -> "twenty one", 1905 -> "one thousand nine hundred five"."""
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    for scale, name in _SCALES:
        if value >= scale:
            high, rest = divmod(value, scale)
            return f"{number_words(high)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _spell_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if "." in text and text.count(".") == 1:  # 2.5 -> two point five
        whole, fraction = text.split(".")
        return f" {number_words(int(whole.replace(',', '')))} point {' '.join(_ONES[int(d)] for d in fraction)} "
    digits = text.replace(",", "").replace(".", "")
    return f" {number_words(int(digits))} " if len(digits) <= 12 else " ".join(_ONES[int(d)] for d in digits)


def normalise(text: str) -> list[str]:
    """The words of ``text`` as compared: lower case, numbers spelled out, no punctuation or accents."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    text = _NUMBER.sub(_spell_number, text)
    text = re.sub(r"(\w)'(\w)", r"\1\2", text)  # don't -> dont, on both sides
    text = re.sub(r"[^\w\s]|_", " ", text)
    return text.split()


def word_error_rate(reference: Sequence[str], heard: Sequence[str]) -> float:
    """(substitutions + deletions + insertions) / reference words, by Levenshtein alignment over words;
    above 1.0 when the recognizer adds words. An empty reference: 0.0 if nothing was heard, else 1.0."""
    if not reference:
        return 0.0 if not heard else 1.0
    previous = list(range(len(heard) + 1))
    for i, word in enumerate(reference, start=1):
        current = [i]
        for j, other in enumerate(heard, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1] / len(reference)


def printable(text: str) -> str:
    """A word as a subtitle may show it: control and format characters removed, spaces collapsed."""
    return " ".join("".join(c for c in text if unicodedata.category(c)[0] != "C").split())


def word_timings(chunks: Sequence[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """The recognizer's word chunks as ``{word, start, end}`` within the clip: words that are only
    control characters dropped, times clamped to [0, seconds], never going back, end >= start."""
    words, last = [], 0.0
    for chunk in chunks:
        word = printable(chunk.get("text", ""))
        start, end = (tuple(chunk.get("timestamp") or (None, None)) + (None, None))[:2]
        if not word:
            continue
        start = min(max(last if start is None else float(start), last), seconds)
        end = min(max(start if end is None else float(end), start), seconds)
        words.append({"word": word, "start": round(start, 3), "end": round(end, 3)})
        last = start
    return words


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d},{rest % 1000:03d}"


def srt(words: Sequence[dict[str, Any]], text: str, seconds: float) -> str:
    """SubRip cues of at most 7 words / 42 characters from the word timings; one cue with the whole
    line over the whole clip when the recognizer gave no words."""
    if not words:
        return f"1\n{_clock(0.0)} --> {_clock(seconds)}\n{printable(text)}\n"
    cues: list[list[dict[str, Any]]] = [[]]
    for word in words:
        cue = cues[-1]
        if cue and (len(cue) >= MAX_CUE_WORDS or len(" ".join(w["word"] for w in [*cue, word])) > MAX_CUE_CHARS):
            cues.append(cue := [])
        cue.append(word)
    blocks = []
    for index, cue in enumerate(cues, start=1):
        start, end = cue[0]["start"], max(cue[-1]["end"], cue[0]["start"] + 0.001)
        blocks.append(f"{index}\n{_clock(start)} --> {_clock(end)}\n{' '.join(w['word'] for w in cue)}\n")
    return "\n".join(blocks)
