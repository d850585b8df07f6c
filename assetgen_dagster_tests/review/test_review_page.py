"""Every demo batch's review page in a real browser: every item shown, every image decoded, every
GLB loaded by the 3D viewer, textures shown tiled, no console errors."""

import json
from pathlib import Path

import pytest

from ..browser import serving, watch_console
from ..conftest import DEMO_BATCHES

TEXT_KINDS = {"item_text", "dialogue", "strings"}
SCREENSHOTS = Path("/tmp/assetgen-review-screenshots")


def test_every_glb_of_the_demo_passes_the_khronos_validator(demo_packs):
    from ..clients import gltf_problems

    glbs = sorted(demo_packs.rglob("*.glb"))
    assert len(glbs) >= 20 and gltf_problems(glbs) == {}


def test_the_validator_reports_a_broken_glb(tmp_path):
    """The check above can fail: a GLB whose accessor points past its buffer, and bytes that are no glTF."""
    import trimesh

    from ..clients import gltf_problems

    glb = bytearray(trimesh.creation.box().export(file_type="glb"))
    chunk = int.from_bytes(glb[12:16], "little")
    document = json.loads(glb[20:20 + chunk])
    document["accessors"][0]["count"] *= 1000
    text = json.dumps(document, separators=(",", ":")).encode().ljust(chunk)
    assert len(text) == chunk, "the edited JSON must fit its chunk"
    (tmp_path / "past_its_buffer.glb").write_bytes(bytes(glb[:20] + text + glb[20 + chunk:]))
    (tmp_path / "not_gltf.glb").write_bytes(b"not a glTF file at all")
    problems = gltf_problems(sorted(tmp_path.glob("*.glb")))
    assert set(map(lambda p: Path(p).name, problems)) == {"past_its_buffer.glb", "not_gltf.glb"}, problems


@pytest.mark.parametrize("batch", DEMO_BATCHES)
def test_the_review_page_of_every_demo_pack(demo_packs, batch, new_page):
    pack = demo_packs / batch / "asset_pack"
    manifest = json.loads((pack / "manifest.json").read_text())
    with serving(pack) as base:
        page = new_page(viewport={"width": 1280, "height": 900})
        errors = watch_console(page)
        page.goto(f"{base}/index.html")
        page.wait_for_load_state("networkidle")
        viewers = page.locator("model-viewer").count()
        if viewers:  # every GLB is loaded by its viewer (model-viewer's `loaded` after its load event)
            page.wait_for_function("[...document.querySelectorAll('model-viewer')].every(v => v.loaded)", timeout=60_000)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{batch}.png"), full_page=True)

        shown = sorted(page.locator("section[data-item]").evaluate_all("cards => cards.map(c => c.dataset.item)"))
        assert shown == sorted(item["id"] for item in manifest["items"])
        with_variants = [item for item in manifest["items"] if "variant" in next(iter(item["provenance"].values()), {})]
        assert [item["id"] for item in with_variants] == (["lantern"] if batch == "starter_props" else [])
        for item in with_variants:  # (the demo's lantern) every candidate shown, the shipped one framed
            candidates = page.locator(f".candidate[data-item='{item['id']}']")
            picked = page.locator(f".candidate.picked[data-item='{item['id']}']").get_attribute("data-variant")
            assert candidates.count() >= 2 and picked == str(next(iter(item["provenance"].values()))["variant"])
        images = page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])")
        assert all(width for _, width in images), [src for src, width in images if not width]
        drawn = [item for item in manifest["items"] if item["kind"] not in TEXT_KINDS]
        assert bool(images) == bool(drawn)
        for item in manifest["items"]:  # text items show their words, not just links
            if item["kind"] in TEXT_KINDS:
                card = page.locator(f"[data-item='{item['id']}'] .text")
                assert card.count() == 1 and len(card.inner_text().strip()) > 0
        meshes = sum(1 for item in manifest["items"] if item["kind"] == "mesh")
        assert viewers == 2 * meshes  # LOD0 and the collision hull of each
        textures = [item["id"] for item in manifest["items"] if item["kind"] == "texture"]
        tiles = page.locator(".tiled").evaluate_all(
            "els => els.map(e => { const s = getComputedStyle(e); return [s.backgroundRepeat, e.offsetWidth, "
            "parseFloat(s.backgroundSize), e.dataset.times]; })")
        assert len(tiles) == len(textures)
        for repeat, width, tile, times in tiles:  # shown 3 x 3: the element is three tiles wide
            assert repeat == "repeat" and width == int(times) * tile == 3 * tile
        decoded = page.evaluate("""Promise.all([...document.querySelectorAll('.tiled')].map(e => new Promise(done => {
            const image = new Image(); image.onload = () => done(image.naturalWidth); image.onerror = () => done(0);
            image.src = getComputedStyle(e).backgroundImage.slice(5, -2); })))""")
        assert all(decoded) and len(decoded) == len(textures)
        oggs = sorted(f["path"] for item in manifest["items"] for f in item["files"] if f["path"].endswith(".ogg"))
        players = sorted(page.locator("audio").evaluate_all("els => els.map(e => e.getAttribute('src'))"))
        assert players == oggs  # a player per clip, voiced dialogue lines included
        durations = page.evaluate("""Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {
            a.onloadedmetadata = () => done(a.duration); a.onerror = () => done(0); a.preload = 'metadata'; a.load(); })))""")
        assert all(seconds > 0 for seconds in durations), durations  # Chromium decodes each OGG
        checks = page.locator("ul.checks li.fail").count()
        assert checks == 0 or manifest["missing"]
        assert errors == [], errors


def test_skies_show_as_a_strip_and_a_cube_cross_and_animations_play_at_their_fps(demo_packs, new_page):
    pack = demo_packs / "sky_and_motion" / "asset_pack"
    with serving(pack) as base:
        page = new_page(viewport={"width": 1280, "height": 900})
        errors = watch_console(page)
        page.goto(f"{base}/index.html")
        page.wait_for_load_state("networkidle")
        strip = page.locator("img.panorama-strip").evaluate("i => [i.naturalWidth, i.naturalHeight, i.offsetWidth]")
        assert strip[0] == 2 * strip[1] and strip[2] >= 512
        faces = page.locator(".cube-cross img").evaluate_all(
            "imgs => Object.fromEntries(imgs.map(i => [i.alt, [i.getBoundingClientRect().x, i.getBoundingClientRect().y]]))")
        assert sorted(faces) == ["nx", "ny", "nz", "px", "py", "pz"]
        assert faces["py"][0] == faces["pz"][0] == faces["ny"][0] and faces["py"][1] < faces["pz"][1] < faces["ny"][1]
        assert faces["nx"][0] < faces["pz"][0] < faces["px"][0] < faces["nz"][0]  # the row -X, +Z, +X, -Z
        players = page.locator(".sprite-animation")
        counts = players.evaluate_all("ps => ps.map(p => JSON.parse(p.dataset.frames).length)")
        durations = players.evaluate_all("ps => ps.map(p => Number(p.dataset.duration))")
        assert counts == [8, 6] and durations == [83, 100]
        seen = [set() for _ in counts]
        positions = set()
        for _ in range(30):  # sample for ~1.2 s: longer than either cycle
            for index, (frame, position) in enumerate(players.evaluate_all(
                    "ps => ps.map(p => [p.dataset.frame, getComputedStyle(p).backgroundPosition])")):
                seen[index].add(int(frame))
                positions.add((index, position))
            page.wait_for_timeout(40)
        assert [len(frames) for frames in seen] == counts, seen  # every frame shown, at its fps
        assert len(positions) == sum(counts)  # each frame by its own place on the sheet
        assert errors == [], errors


def test_the_page_lists_which_engines_and_clients_read_each_file_type(demo_packs):
    import re

    page = (demo_packs / "forest_level" / "asset_pack" / "index.html").read_text()
    rows = dict(re.findall(r'<tr data-suffix="([^"]+)"><td>[^<]+</td><td>\d+</td><td>([^<]+)</td></tr>', page))
    assert "Godot 3.2" in rows[".glb"] and "Khronos glTF Validator" in rows[".glb"]
    assert "Godot 3.2" in rows[".png"] and rows[".import"] == "our own checks only"
    audio = (demo_packs / "audio_demo" / "asset_pack" / "index.html").read_text()
    assert "ffprobe" in audio and "music loops" in audio
