"""A picture of a sound for the UI: the waveform (min/max per pixel column) over a log spectrogram."""

from __future__ import annotations

from typing import Any

from assetgen_dagster.kinds.audio import files

WIDTH, WAVE_HEIGHT, SPECTRUM_HEIGHT = 256, 64, 96
FLOOR_DB = -90.0  # spectrogram colours span FLOOR_DB .. 0 dB relative to the loudest bin


def wav_picture(wav: bytes) -> Any:
    """:func:`picture` of a written WAV file, with the loop points its smpl chunk holds."""
    decoded = files.decode(wav)
    return picture(decoded.audio, decoded.rate, files.read_loop(wav))


def picture(audio: Any, rate: int, loop: tuple[int, int] | None = None) -> Any:
    """A PIL image: waveform on top (loop points as green lines), spectrogram (0 Hz at the bottom) below."""
    import numpy as np
    from PIL import Image, ImageDraw
    from scipy.signal import spectrogram

    mono = audio.mean(axis=1)
    wave = Image.new("RGB", (WIDTH, WAVE_HEIGHT), (20, 22, 28))
    draw = ImageDraw.Draw(wave)
    middle = WAVE_HEIGHT / 2
    draw.line([(0, middle), (WIDTH, middle)], fill=(60, 64, 72))
    columns = np.array_split(mono, WIDTH) if mono.size >= WIDTH else [mono[i:i + 1] for i in range(mono.size)]
    for x, column in enumerate(columns):
        if column.size:
            low, high = float(column.min()), float(column.max())
            draw.line([(x, middle - high * middle), (x, middle - low * middle)], fill=(120, 200, 255))
    if loop is not None:
        for sample in loop:
            x = round(sample / max(mono.size - 1, 1) * (WIDTH - 1))
            draw.line([(x, 0), (x, WAVE_HEIGHT)], fill=(80, 220, 120))

    segment = min(512, max(16, mono.size // 8))
    _, _, power = spectrogram(mono, fs=rate, nperseg=segment, noverlap=segment // 2)
    db = 10.0 * np.log10(power + 1e-20)
    db = np.clip((db - db.max() - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)[::-1]  # low frequencies at the bottom
    heat = np.stack([db, db ** 2, 0.3 + 0.7 * db * (1 - db)], axis=-1)  # dark blue -> magenta -> white
    spectrum = Image.fromarray((heat * 255).astype(np.uint8)).resize((WIDTH, SPECTRUM_HEIGHT), Image.BILINEAR)

    sheet = Image.new("RGB", (WIDTH, WAVE_HEIGHT + SPECTRUM_HEIGHT))
    sheet.paste(wave, (0, 0))
    sheet.paste(spectrum, (0, WAVE_HEIGHT))
    return sheet
