"""Audio files: 16-bit PCM WAV with loop points in a ``smpl`` chunk, Ogg Vorbis with them in
``LOOPSTART``/``LOOPLENGTH`` comments, both encoded through soundfile.

soundfile (libsndfile) writes the audio and a comment tag (the provenance) but not the ``smpl``
chunk, so that chunk is appended here with ``struct`` and the RIFF size patched. Godot imports WAV
loop points from it ("Detect From WAV"); the loop end is the last sample played, as the spec says.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

SMPL_HEADER = struct.Struct("<9I")  # manufacturer .. sampler data, then one 24-byte record per loop
SMPL_LOOP = struct.Struct("<6I")  # cue id, type (0 = forward), start, end (inclusive), fraction, play count


def encode(audio: Any, rate: int, file_format: str, comment: str) -> bytes:
    """``audio`` (samples, channels) as WAV (PCM 16-bit) or OGG (Vorbis) bytes, tagged with ``comment``."""
    import soundfile

    subtype = {"WAV": "PCM_16", "OGG": "VORBIS"}[file_format]
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", rate, audio.shape[1], format=file_format, subtype=subtype) as handle:
        handle.comment = comment
        handle.write(audio)
    return buffer.getvalue()


def with_loop(wav: bytes, rate: int, start: int, end: int) -> bytes:
    """The WAV with a ``smpl`` chunk holding one forward loop from ``start`` to ``end`` (inclusive)."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    period_ns = round(1e9 / rate)
    body = SMPL_HEADER.pack(0, 0, period_ns, 60, 0, 0, 0, 1, 0) + SMPL_LOOP.pack(0, 0, start, end, 0, 0)
    chunk = b"smpl" + struct.pack("<I", len(body)) + body
    out = bytearray(wav + chunk)
    struct.pack_into("<I", out, 4, len(out) - 8)
    return bytes(out)


def ogg_with_loop(ogg: bytes, start: int, end: int) -> bytes:
    """The Ogg Vorbis file with ``LOOPSTART``/``LOOPLENGTH`` comments (in samples; the loop ends at
    ``end`` inclusive), the convention RPG Maker, several engines' audio plugins and players read.
    libsndfile writes a fixed set of comment fields only, so mutagen rewrites the comment header."""
    from mutagen.oggvorbis import OggVorbis

    buffer = io.BytesIO(ogg)
    tags = OggVorbis(buffer)
    tags["LOOPSTART"] = str(start)
    tags["LOOPLENGTH"] = str(end - start + 1)
    tags.save(buffer)
    return buffer.getvalue()


def read_ogg_loop(ogg: bytes) -> tuple[int, int] | None:
    """(start, end inclusive) from an Ogg Vorbis file's loop comments, or None without them."""
    from mutagen.oggvorbis import OggVorbis

    tags = OggVorbis(io.BytesIO(ogg))
    if "LOOPSTART" not in tags or "LOOPLENGTH" not in tags:
        return None
    start = int(tags["LOOPSTART"][0])
    return start, start + int(tags["LOOPLENGTH"][0]) - 1


def riff_chunks(wav: bytes) -> dict[bytes, bytes]:
    """The top-level chunks of a RIFF/WAVE file by id (the last of a repeated id wins)."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    chunks, offset = {}, 12
    while offset + 8 <= len(wav):
        chunk_id, size = wav[offset: offset + 4], struct.unpack_from("<I", wav, offset + 4)[0]
        chunks[chunk_id] = wav[offset + 8: offset + 8 + size]
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    return chunks


def read_loop(wav: bytes) -> tuple[int, int] | None:
    """(start, end inclusive) of the first loop in the WAV's ``smpl`` chunk, or None without one."""
    body = riff_chunks(wav).get(b"smpl")
    if body is None or len(body) < SMPL_HEADER.size + SMPL_LOOP.size:
        return None
    if SMPL_HEADER.unpack_from(body)[7] < 1:
        return None
    _, _, start, end, _, _ = SMPL_LOOP.unpack_from(body, SMPL_HEADER.size)
    return start, end


@dataclass(frozen=True)
class Decoded:
    audio: Any  # float32 (samples, channels)
    rate: int
    comment: str


def decode(data: bytes) -> Decoded:
    """Decode WAV or OGG bytes (soundfile) into float32 frames."""
    import soundfile

    with soundfile.SoundFile(io.BytesIO(data)) as handle:
        audio = handle.read(dtype="float32", always_2d=True)
        return Decoded(audio, handle.samplerate, handle.comment or "")
