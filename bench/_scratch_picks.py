"""Click -> updated review page, for a pick and for a re-roll, on `make cluster` (hot Celery worker,
the watcher, PostgreSQL and Redis on loopback), tiny kit.

A batch with a 4-candidate item is made once; `assetgen-dagster review`'s server (in this process)
serves its pack to headless Chromium. Each pick clicks another candidate's "pick" button and the
clock runs until the page has reloaded with that candidate framed as picked: the server writes the
picks file, the watcher launches the batch's run, the worker re-links the item and rebuilds the pack,
the page's poll sees the new pack and reloads. Each re-roll clicks "re-roll" on a candidate that is
not picked and the clock runs until the reloaded page shows its new image (one candidate generated).

    .venv/bin/python bench/picks_latency.py [--clicks 9]

Ends with `pick_s=<median> reroll_s=<median>` (goals: pick <= 1.5 s, re-roll <= 2.5 s).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import sys
import threading
import time

from common import ensure_tiny_kit, offline_tiny_environment, registry, write_results
from edit_latency import cluster_for, fresh_work, idle

from assetgen_dagster.cluster.servers import wait_until

BATCH = """\
defaults: {seed: 5}
items:
  - {id: lamp, kind: concept_art, prompt: "a brass lantern", variants: 4}
  - {id: rock, kind: concept_art, prompt: "a mossy rock"}
"""
CHROMIUM_ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update"]


def run_phases(cluster, clicks: list[float], shown_at: list[float]) -> dict[str, list[float]]:
    """Where each click's time went, from the runs' records: the watcher's launch, the worker taking
    the run, the run itself, and the page seeing the new pack (its poll and the reload)."""
    with cluster.instance() as instance:
        runs = sorted((r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition") == "props"),
                      key=lambda r: r.create_timestamp)
    phases: dict[str, list[float]] = {"click -> run created (server, watcher, launch)": [],
                                      "run created -> started (Celery, worker)": [],
                                      "run started -> ended (steps, pack published)": [],
                                      "run ended -> page shows it (poll, reload)": []}
    for clicked, shown in zip(clicks, shown_at, strict=True):
        record = next(r for r in runs if r.create_timestamp.timestamp() >= clicked)
        created, start, end = record.create_timestamp.timestamp(), record.start_time, record.end_time
        for name, value in zip(phases, (created - clicked, start - created, end - start, shown - end), strict=True):
            phases[name].append(value)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=9)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from assetgen_dagster.review.serve import ReviewActions, review_server

    parent = offline_tiny_environment()
    parent.chmod(0o755)  # as root, PostgreSQL runs as the postgres user and must reach its folder
    ensure_tiny_kit()
    work = fresh_work(parent, "picks")
    prompts, outputs = work / "prompts", work / "outputs"
    pack = outputs / "props" / "asset_pack"
    picks, rerolls, clicks, shown_at = [], [], [], []
    with cluster_for(work, ["cpu"], "celery", watch=True) as cluster:
        cluster.wait_for_workers()
        wait_until(cluster.webserver_ready, 180, "the webserver", every=0.5)
        (prompts / "props.yaml").write_text(BATCH)
        wait_until(lambda: (pack / "index.html").is_file(), 300, "the batch's first pack", every=0.1)
        wait_until(lambda: idle(cluster), 300, "the first run to finish", every=0.2)
        server = review_server(pack, ReviewActions(prompts, outputs, "props", registry().schema))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = chromium.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/index.html")
            picked = 0
            for n in range(args.clicks):
                picked = 1 + (picked % 3)  # 1, 2, 3, 1, ...: always another candidate
                started = time.perf_counter()
                clicks.append(time.time())
                page.click(f'button[data-action="pick"][data-item="lamp"][data-variant="{picked}"]')
                page.wait_for_selector(f'.candidate.picked[data-item="lamp"][data-variant="{picked}"]', timeout=60_000)
                picks.append(time.perf_counter() - started)
                shown_at.append(time.time())
                print(f"  pick {n + 1}: v{picked} framed after {picks[-1]:.2f} s", flush=True)
                wait_until(lambda: idle(cluster), 120, "the run to finish", every=0.1)
            for n in range(args.clicks):
                variant = 0 if picked != 0 else 1
                shown = pack / f"review/candidates/concept_art/lamp.v{variant}.png"
                before = hashlib.sha256(shown.read_bytes()).hexdigest()
                page.evaluate("window.beforeTheReroll = true")
                started = time.perf_counter()
                clicks.append(time.time())
                page.click(f'button[data-action="reroll"][data-item="lamp"][data-variant="{variant}"]')
                page.wait_for_function("() => window.beforeTheReroll === undefined", timeout=60_000)
                rerolls.append(time.perf_counter() - started)
                shown_at.append(time.time())
                after = hashlib.sha256(shown.read_bytes()).hexdigest()
                assert after != before, "the page reloaded without a new candidate"
                print(f"  re-roll {n + 1}: v{variant} shown anew after {rerolls[-1]:.2f} s", flush=True)
                wait_until(lambda: idle(cluster), 120, "the run to finish", every=0.1)
            chromium.close()
        server.shutdown()
        phases = run_phases(cluster, clicks, shown_at)
        with cluster.instance() as instance:
            runs = sorted((r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition") == "props"),
                          key=lambda r: r.create_timestamp)
            for record in runs[-(args.clicks + 2):-args.clicks - 0 or None][:2] + runs[-2:]:
                run = record.dagster_run
                t0 = record.create_timestamp.timestamp()
                print("RUN", run.run_id[:8], run.asset_selection, run.tags.get("assetgen/trigger"))
                for e in instance.all_logs(run.run_id):
                    kind = e.dagster_event.event_type_value if e.dagster_event else "log"
                    print(f"   {e.timestamp - t0:7.3f} {e.step_key or '':14} {kind:28} {(e.user_message or '')[:90]}")
    results = {"pick_s": picks, "reroll_s": rerolls, "pick_median_s": statistics.median(picks),
               "reroll_median_s": statistics.median(rerolls)}
    table = [(f"click pick -> page shows it picked, make cluster, median (min-max) of {args.clicks} (goal <= 1.5 s)",
              f"{statistics.median(picks):.2f} s ({min(picks):.2f}-{max(picks):.2f})"),
             (f"click re-roll -> page shows the new candidate, median (min-max) of {args.clicks} (goal <= 2.5 s)",
              f"{statistics.median(rerolls):.2f} s ({min(rerolls):.2f}-{max(rerolls):.2f})")]
    for name, values in phases.items():
        table.append((f"  of which {name}, median over picks and re-rolls", f"{statistics.median(values):.2f} s"))
    results["phases_s"] = phases
    write_results("picks_latency", results, table)
    shutil.rmtree(parent, ignore_errors=True)
    print(f"pick_s={results['pick_median_s']:.2f} reroll_s={results['reroll_median_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
