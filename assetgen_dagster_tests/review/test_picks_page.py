"""Picks and re-rolls from the review page: Chromium clicks the buttons the review server adds, the
server writes the batch's picks file, a real run (what the watcher launches on that save) publishes the
new pack, and the page reloads showing it. Forged and bad requests change nothing."""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from assetgen_dagster.review.serve import ReviewActions, review_server

from ..browser import watch_console
from ..conftest import REGISTRY, materialize_batch, metadata_of, sha, write_batch
from .test_review_page import SCREENSHOTS

BATCH = """\
    defaults: {seed: 5}
    items:
      - {id: lamp, kind: concept_art, prompt: "a brass lantern", variants: 4}
      - {id: rock, kind: concept_art, prompt: "a mossy rock", variants: 2}
      - {id: coin, kind: concept_art, prompt: "a gold coin"}
    """
ASSETS = ["concept_art", "asset_pack"]


@pytest.fixture
def served(tiny_kit, workdir):
    """The batch made once and its pack served with the buttons: (base URL, actions, instance, workdir)."""
    write_batch(workdir / "prompts", "props", BATCH)
    _, instance = materialize_batch(ASSETS, "props")
    actions = ReviewActions(workdir / "prompts", workdir / "outputs", "props", REGISTRY.schema)
    server = review_server(workdir / "outputs" / "props" / "asset_pack", actions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", actions, instance, workdir
    finally:
        server.shutdown()
        server.server_close()


def picks(workdir):
    path = workdir / "prompts" / "props.picks.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def post(base, action, body, token=None, content_type="application/json", host=None):
    """(status, answer) of a POST to the review server."""
    headers = {"Content-Type": content_type, **({"X-Assetgen-Token": token} if token else {}),
               **({"Host": host} if host else {})}
    request = urllib.request.Request(f"{base}/_assetgen/{action}", json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_pick_and_reroll_from_the_page(served, new_page):
    base, _, instance, workdir = served
    folder, pack = workdir / "outputs" / "props" / "concept_art", workdir / "outputs" / "props" / "asset_pack"
    candidates = {k: sha(folder / f"variants/lamp.v{k}.png") for k in range(4)}
    page = new_page()
    errors = watch_console(page)
    page.goto(f"{base}/index.html")
    assert page.locator('button[data-action="pick"]').count() == 6  # lamp's 4 and rock's 2 candidates
    best = int(page.locator('.candidate.picked[data-item="lamp"]').get_attribute("data-variant"))
    assert f"v{best} · score" in page.locator('.candidate.picked[data-item="lamp"]').inner_text()
    chosen = 2 if best != 2 else 1  # another candidate than the one the score picked
    rerolled = 3 - chosen  # neither

    page.evaluate("window.beforeThePick = true")
    page.click(f'button[data-action="pick"][data-item="lamp"][data-variant="{chosen}"]')
    page.wait_for_selector('#assetgen-status[data-state="saved"]')
    assert picks(workdir) == {"lamp": {"pick": chosen}}
    run, _ = materialize_batch(ASSETS, "props", instance=instance)  # the run the watcher launches on that save
    assert metadata_of(run, "concept_art")["generated"] == 0  # a pick generates nothing
    page.wait_for_function("() => window.beforeThePick === undefined", timeout=15_000)  # reloaded
    assert page.locator('.candidate.picked[data-item="lamp"]').get_attribute("data-variant") == str(chosen)
    assert sha(pack / "concept_art" / "lamp.png") == candidates[chosen]

    before = {p.name: sha(p) for p in (folder / "variants").iterdir()}
    page.evaluate("window.beforeTheReroll = true")
    page.click(f'button[data-action="reroll"][data-item="lamp"][data-variant="{rerolled}"]')
    page.wait_for_selector('#assetgen-status[data-state="saved"]')
    assert picks(workdir) == {"lamp": {"pick": chosen, "rerolled": {rerolled: 1}}}
    run, _ = materialize_batch(ASSETS, "props", instance=instance)
    assert metadata_of(run, "concept_art")["generated"] == 1
    after = {p.name: sha(p) for p in (folder / "variants").iterdir()}
    assert {name for name in after if after[name] != before[name]} == {f"lamp.v{rerolled}.png"}
    page.wait_for_function("() => window.beforeTheReroll === undefined", timeout=15_000)
    shown = page.locator(f'.candidate[data-item="lamp"][data-variant="{rerolled}"] img').first.get_attribute("src")
    assert sha(pack / shown) == after[f"lamp.v{rerolled}.png"]  # the page shows the new candidate
    assert sha(pack / "concept_art" / "lamp.png") == candidates[chosen]  # the pick stays
    SCREENSHOTS.mkdir(exist_ok=True)
    page.locator('section[data-item="lamp"]').screenshot(path=str(SCREENSHOTS / "picks.png"))
    assert errors == []


@pytest.mark.parametrize("action, body, token, content_type, host, status, says", [
    ("pick", {"item": "lamp", "variant": 1}, None, "application/json", None, 403, "token"),
    ("pick", {"item": "lamp", "variant": 1}, "forged", "application/json", None, 403, "token"),
    ("pick", {"item": "lamp", "variant": 1}, "TOKEN", "text/plain", None, 415, "JSON"),
    ("pick", {"item": "lamp", "variant": 1}, "TOKEN", "application/json", "evil.example:80", 403, "page this server"),
    ("pick", {"item": "../props", "variant": 1}, "TOKEN", "application/json", None, 400, "item id"),
    ("pick", {"item": "lamp", "variant": 9}, "TOKEN", "application/json", None, 400, "variants 0-3"),
    ("pick", {"item": "coin", "variant": 0}, "TOKEN", "application/json", None, 400, "one variant"),
    ("pick", {"item": "ghost", "variant": 0}, "TOKEN", "application/json", None, 400, "no item 'ghost'"),
    ("pick", {"item": "lamp", "variant": True}, "TOKEN", "application/json", None, 400, "whole number"),
    ("pick", {"item": "lamp", "variant": 1, "path": "/etc"}, "TOKEN", "application/json", None, 400, "body"),
    ("delete", {"item": "lamp", "variant": 1}, "TOKEN", "application/json", None, 404, "no action"),
])
def test_bad_and_forged_requests_change_nothing(served, action, body, token, content_type, host, status, says):
    base, actions, _, workdir = served
    token = actions.token if token == "TOKEN" else token
    code, answer = post(base, action, body, token, content_type, host)
    assert code == status and says in answer["error"], answer
    assert picks(workdir) is None


def test_clicks_at_once_are_all_kept(served):
    base, actions, _, workdir = served
    requests = [("reroll", {"item": "lamp", "variant": n % 4}) for n in range(12)] + \
               [("pick", {"item": "rock", "variant": 1})] * 4
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda request: post(base, *request, actions.token), requests))
    assert all(code == 200 for code, _ in answers), answers
    assert picks(workdir) == {"lamp": {"rerolled": {0: 3, 1: 3, 2: 3, 3: 3}}, "rock": {"pick": 1}}
