"""Per-step timings of the mesh routes, the audio kinds, skyboxes and sprite animations, per item (tiny kit, offline).

Meshes (text, image -> Shap-E img2img, image -> depth relief): generate, clean + game space, UV
unwrap + texture bake, LOD chain, convex hull and V-HACD decomposition, with face counts and texture
size. Audio (sfx, music loop, a voice line with and without a reference clip, and that line heard back by the
speech recognizer): generate, post-process, encode, from the same code the assets
run. Skyboxes (equirect sizes 1024 and 4096) and sprite animations (8 and 32 frames): generate, per
denoising step, and write (resize, poles, cube faces; or loop, keying, anchoring, sheet, PNG
encoding). Models are loaded first, so load time is not in the figures.

    .venv/bin/python bench/asset_steps.py [--grid 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, ensure_tiny_kit, machine, models, offline_tiny_environment, registry, write_results  # noqa: E402


def median_of(repeats: int, step):
    """(median seconds, last result) of ``step()`` run ``repeats`` times."""
    seconds, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), result


def mesh_rows(loader, grid: int, repeats: int) -> list[dict]:
    import numpy as np
    from PIL import Image

    from assetgen_dagster.kinds.mesh import ShapeRequest
    from assetgen_dagster.kinds.mesh.geometry import (
        MeshRequest,
        bake_texture,
        clean,
        collision_hull,
        convex_parts,
        image_to_meshes,
        lod_chain,
        relief_mesh,
        text_to_meshes,
        to_game_space,
    )

    concept = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    routes = {
        "text": ("mesh", lambda pipe: text_to_meshes(pipe, [MeshRequest("a wooden barrel", 7, 2, 3.0, grid)], 1)[0]),
        "shape (image)": ("image_to_3d", lambda pipe: image_to_meshes(
            pipe, [ShapeRequest("concept.png", "-", 7, 2, 3.0, grid, 1.0, 512)], [concept], 1)[0]),
        "relief (image)": ("depth", lambda pipe: relief_mesh(
            concept, pipe(concept)["predicted_depth"].float().cpu().numpy().squeeze())),
    }
    rows = []
    for route, (role, generate) in routes.items():
        with loader.use(role) as model:
            generate(model.pipeline)  # warm-up
            row = {"route": route}
            row["generate"], raw = median_of(repeats, lambda: generate(model.pipeline))
        row["clean"], mesh = median_of(repeats, lambda: to_game_space(clean(raw)[0], 1.0, "y" if "relief" in route else "z"))
        if "relief" not in route:
            row["bake"], mesh = median_of(repeats, lambda: bake_texture(mesh, 512))
        row["lods"], lods = median_of(repeats, lambda: lod_chain(mesh, (1.0, 0.5, 0.25, 0.1)))
        row["hull"], _ = median_of(repeats, lambda: collision_hull(mesh.copy()))  # a copy: trimesh caches hulls
        row["decomposed"], parts = median_of(repeats, lambda: convex_parts(mesh, 8))
        row.update(faces=[len(level.faces) for level in lods], parts=len(parts),
                   texture="x".join(map(str, mesh.visual.material.baseColorTexture.size)))
        rows.append(row)
    return rows


def audio_rows(loader, work: Path) -> list[dict]:
    import hashlib

    from assetgen_dagster.engine import ItemOutput
    from assetgen_dagster.kinds.audio import dsp, files
    from assetgen_dagster.kinds.music import MusicRequest
    from assetgen_dagster.kinds.sfx import SfxRequest
    from assetgen_dagster.kinds.voice.speaking import LineRequest, frame_budget
    from assetgen_dagster.kinds.voice.transcripts import Clip, HearingRequest

    reference = PROJECT_ROOT / "data" / "prompts" / "voices" / "gruff_male.wav"
    clip = files.decode(reference.read_bytes())
    prompt_audio = dsp.resample(dsp.to_channels(clip.audio, 1), clip.rate, 44100)[:, 0]
    line = "Halt! Who goes there? Show yourself."

    def spoken(with_reference: bool) -> LineRequest:
        prefix = "[S1] Ah, oh. Ee, eh, ah. " if with_reference else ""
        return LineRequest(f"{prefix}[S1] {line}", 1, "S1", "voices/gruff_male.wav" if with_reference else None,
                           hashlib.sha256(reference.read_bytes()).hexdigest() if with_reference else None,
                           1.0, 1.0, 1.0, frame_budget(line, 6.0), prompt_audio if with_reference else None)

    cases = [
        ("sfx", {"id": "door", "kind": "sfx", "prompt": "a creaking door", "duration": 1.5},
         lambda item: SfxRequest(item.prompt, None, 1, 8, 7.0, item.duration, item.channels, 48000, -23.0)),
        ("music", {"id": "loop", "kind": "music", "prompt": "tavern tune", "duration": 8.0, "loop": True, "bpm": 96},
         lambda item: MusicRequest(item.prompt, 1, 4, 1.0, item.duration, True, 96, 48000, -23.0)),
        ("voice", {"id": "line", "kind": "voice", "text": line}, lambda item: spoken(False)),
        ("voice", {"id": "cast", "kind": "voice", "text": line}, lambda item: spoken(True)),
    ]
    rows = []
    for name, fields, make_request in cases:
        asset = registry().kind(name).assets[0]
        item = registry().kind(name).item.model_validate(fields)
        request = make_request(item)
        with loader.use(name) as model:
            asset.generate(model, [request])  # warm-up
            [take] = asset.generate(model, [request])
        for attempt in ("warm-up", "timed"):  # the first write pays scipy / pyloudnorm / soundfile imports
            folder = work / item.id / attempt
            folder.mkdir(parents=True)
            artifact = asset.write(ItemOutput(folder, item.id, {}), item, request, take)
        kind = f"{name} with a reference" if getattr(request, "reference", None) else name
        rows.append({"kind": kind, "clip": f"{artifact.seconds:.2f} s x {artifact.audio.shape[1]} ch", **artifact.timings})

    hearing = registry().asset("voice_transcripts")  # the last line, heard back (Whisper, word timings)
    wav = work / "cast" / "timed" / "cast.wav"
    request = HearingRequest((Clip("", "cast", "S1", None, line, "cast.wav", ""),), "en", 100.0, (wav,))
    with loader.use("speech_recognition") as model:
        hearing.generate(model, [request])  # warm-up
        began = time.perf_counter()
        [heard] = hearing.generate(model, [request])
        seconds = time.perf_counter() - began
    folder = work / "heard"
    folder.mkdir()
    began = time.perf_counter()
    hearing.write(ItemOutput(folder, "cast", {}), item, request, heard)
    rows.append({"kind": "voice_transcripts", "clip": f"{heard[0].seconds:.2f} s, {len(heard[0].chunks)} words heard",
                 "generate": seconds, "post_process": time.perf_counter() - began, "encode": 0.0})
    return rows


def image_kind_rows(loader, work: Path, repeats: int) -> list[dict]:
    from assetgen_dagster.engine import ItemOutput
    from assetgen_dagster.kinds.skybox import SkyboxRequest
    from assetgen_dagster.kinds.sprite_animation import AnimationRequest
    from assetgen_dagster.kinds.sprite_animation.frames import model_frame_count

    def animation(frames: int, size: int) -> AnimationRequest:
        made, overlap = model_frame_count(frames, True)
        return AnimationRequest("a knight walking", 1, 2, 1.0, 16, 16, made, overlap, frames, 12, True, size,
                                "bottom-center", "walk")

    cases = [
        ("skybox", {"id": "sky", "kind": "skybox", "prompt": "dusk sky", "size": 1024},
         SkyboxRequest("dusk sky", 1, 2, 0.0, 64, 32, tile="x", size=1024, face_size=256), "1024 px, 256 px faces"),
        ("skybox", {"id": "sky", "kind": "skybox", "prompt": "dusk sky", "size": 4096},
         SkyboxRequest("dusk sky", 1, 2, 0.0, 64, 32, tile="x", size=4096, face_size=1024), "4096 px, 1024 px faces"),
        ("sprite_animation", {"id": "walk", "kind": "sprite_animation", "prompt": "a knight", "frames": 8, "size": 128},
         animation(8, 128), "8 frames of 128 px (13 made)"),
        ("sprite_animation", {"id": "walk", "kind": "sprite_animation", "prompt": "a knight", "frames": 32, "size": 128},
         animation(32, 128), "32 frames of 128 px (49 made)"),
    ]
    rows = []
    for index, (name, fields, request, shape) in enumerate(cases):
        kind = registry().kind(name)
        asset, item = kind.assets[0], kind.item.model_validate(fields)
        with loader.use(name) as model:
            asset.generate(model, [request])  # warm-up
            generate, [raw] = median_of(repeats, lambda: asset.generate(model, [request]))
        folder = work / f"{name}-{index}"
        folder.mkdir(parents=True)
        write, _ = median_of(repeats, lambda: asset.write(ItemOutput(folder, item.id, {}), item, request, raw))
        rows.append({"kind": name, "shape": shape, "generate": generate, "per_step": generate / request.steps,
                     "write": write})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = offline_tiny_environment()

    ensure_tiny_kit()
    loader = models()
    meshes, audio = mesh_rows(loader, args.grid, args.repeats), audio_rows(loader, work)
    images = image_kind_rows(loader, work, args.repeats)

    def ms(value: float) -> str:
        return f"{value * 1000:.0f} ms"

    table = []
    for row in meshes:
        steps = ", ".join(f"{step} {ms(row[step])}" for step in ("generate", "clean", "bake", "lods", "hull", "decomposed")
                          if step in row)
        table.append((f"mesh, {row['route']}, grid {args.grid}",
                      f"{steps}; LOD faces {row['faces']}, {row['parts']} convex parts, texture {row['texture']}"))
    for row in audio:
        table.append((f"{row['kind']} ({row['clip']})", ", ".join(f"{step} {ms(row[step])}"
                                                             for step in ("generate", "post_process", "encode"))))
    for row in images:
        table.append((f"{row['kind']} ({row['shape']})", f"generate {ms(row['generate'])} ({ms(row['per_step'])} "
                                                         f"per step), write {ms(row['write'])}"))
    write_results("asset_steps", {"machine": machine(), "grid": args.grid, "meshes": meshes, "audio": audio,
                                  "images": images}, table)


if __name__ == "__main__":
    main()
