"""``assetgen-dagster``: the project's command line (demo, UI, batch validation, tiny kit, review pages,
scale-out workers and the one-box cluster)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _project_root() -> Path:
    """The checkout holding workspace.yaml: the current directory or one of its parents."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "workspace.yaml").is_file() and (folder / "dagster.yaml").is_file():
            return folder
    raise SystemExit("run this inside the assetgen-dagster checkout (no workspace.yaml found)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assetgen-dagster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="materialize the example batches offline with the tiny kit")
    ui = commands.add_parser("ui", help="the Dagster UI, daemon, watcher and a hot worker on the demo's storage, "
                                        "until Ctrl-C")
    ui.add_argument("--port", "-p", type=int, default=3000, help="Dagster UI port on 127.0.0.1 (default 3000)")
    validate = commands.add_parser("validate", help="check prompt batch files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="*", type=Path, help="default: every batch in the prompts dir")
    commands.add_parser("tiny-kit", help="build the tiny offline models into the Hugging Face cache")
    full = commands.add_parser("full-kit", help="build full-size random-weight models (real architectures) into the "
                                                "Hugging Face cache, for measuring memory and speed at real scale")
    full.add_argument("roles", nargs="*", help="model roles to build for (default: every role with one: SD-Turbo's "
                                               "image roles, mesh (Shap-E), sfx (Stable Audio Open), item_text and "
                                               "dialogue (SmolLM2-1.7B))")
    commands.add_parser("kinds", help="list the registered kinds (built-in and plugins) and any refused plugin")
    review = commands.add_parser("review", help="serve a batch's asset pack review page on loopback and open it")
    review.add_argument("batch", help="the batch id (partition key)")
    review.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    review.add_argument("--no-open", action="store_true", help="print the URL, do not open a browser")
    models = commands.add_parser("models", help="manage the catalog's models")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    pull = models_commands.add_parser("pull", help="pre-fetch catalog models into the Hugging Face cache")
    pull.add_argument("roles", nargs="*", help="model roles to fetch (default: every role of the active profile)")
    pull.add_argument("--device", default="auto", help="device the models will run on (picks the dtype)")
    worker = commands.add_parser("worker", help="a long-lived Celery worker for one device (deploy/celery)")
    worker.add_argument("--queue", default="gpu", help="Celery queue to take runs from (default: gpu)")
    worker.add_argument("--device", default="cpu", help="cpu or cuda:<index> (sets CUDA_VISIBLE_DEVICES)")
    worker.add_argument("--preload", default="", help="comma-separated roles, kinds or assets to load at start")
    worker.add_argument("--name", help="worker name (default: <queue>-<device>); @<host> is appended")
    worker.add_argument("--loglevel", default="INFO")
    watch = commands.add_parser("watch", help="launch a batch's run as soon as its file is saved (through the "
                                              "webserver; the sensor stays the fallback)")
    watch.add_argument("--webserver", default="http://127.0.0.1:3000", help="the Dagster webserver's URL")
    cluster = commands.add_parser("cluster", help="Redis, PostgreSQL, daemon, UI and one worker per device, "
                                                  "on this machine, until Ctrl-C")
    cluster.add_argument("--devices", help="comma-separated, e.g. cuda:0,cuda:1 (default: every GPU "
                                           "nvidia-smi lists, else --workers CPU workers)")
    cluster.add_argument("--workers", type=int, default=2, help="CPU workers when there is no GPU (default 2)")
    cluster.add_argument("--preload", default="", help="roles, kinds or assets every worker loads at start")
    cluster.add_argument("--port", type=int, default=3000, help="Dagster UI port on 127.0.0.1")
    cluster.add_argument("--pg-port", type=int, default=15432)
    cluster.add_argument("--redis-port", type=int, default=16379)
    cluster.add_argument("--folder", type=Path, default=Path(".cluster"),
                         help="servers' data and logs, relative to the checkout (default .cluster)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from assetgen_dagster.demo import run_demo

        return run_demo(_project_root())
    if args.command == "ui":
        from assetgen_dagster.demo import run_ui

        return run_ui(_project_root(), args.port)
    if args.command == "validate":
        return _validate(args.files)
    if args.command == "kinds":
        return _kinds()
    if args.command == "tiny-kit":
        from assetgen_dagster.registry import build_registry
        from assetgen_dagster.tiny import ensure_tiny_kit

        for path in ensure_tiny_kit(build_registry().roles):
            print(path)
        return 0
    if args.command == "full-kit":
        return _full_kit(args.roles)
    if args.command == "models":
        return _pull(args.roles, args.device)
    if args.command == "worker":
        from assetgen_dagster.cluster.worker import run_worker

        return run_worker(args.queue, args.device, _names(args.preload), args.name, args.loglevel)
    if args.command == "watch":
        import logging

        from assetgen_dagster import settings
        from assetgen_dagster.cluster.watch import watch as watch_batches
        from assetgen_dagster.registry import build_registry

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        watch_batches(settings.prompts_dir(), args.webserver.rstrip("/") + "/graphql", build_registry(),
                      settings.output_dir())
        return 0
    if args.command == "cluster":
        from assetgen_dagster.cluster.local import gpu_devices, run_cluster

        devices = _names(args.devices or "") or gpu_devices() or ["cpu"] * args.workers
        root = _project_root()
        return run_cluster(root, root / args.folder, devices, _names(args.preload), args.port, args.pg_port,
                           args.redis_port)
    if args.command == "review":
        from assetgen_dagster import settings
        from assetgen_dagster.registry import build_registry
        from assetgen_dagster.review.serve import ReviewActions, pack_folder, serve

        output_dir = settings.output_dir()
        actions = ReviewActions(settings.prompts_dir(), output_dir, args.batch, build_registry().schema)
        serve(pack_folder(output_dir, args.batch), actions, args.port, not args.no_open)
        return 0
    return 2


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _kinds() -> int:
    """Print every registered kind with where it comes from, and every refused plugin with why."""
    from assetgen_dagster.registry import build_registry

    registry = build_registry()
    for kind in registry.kinds:
        assets = ", ".join(item_asset.name for item_asset in kind.assets)
        print(f"{kind.name:12} {kind.summary}\n{'':12} {registry.origins[kind.name]}; assets: {assets}")
    for refused in registry.refused:
        print(f"REFUSED {refused}")
    return 1 if registry.refused else 0


def _pull(roles: list[str], device: str) -> int:
    """Fetch each distinct model of the catalog once, reporting what was downloaded."""
    from assetgen_dagster.models import CatalogError, ModelError, ModelLoader
    from assetgen_dagster.models.devices import detect_device, dtype_for
    from assetgen_dagster.models.downloads import fetch_snapshot, resolve_commit
    from assetgen_dagster.registry import build_registry

    loader = ModelLoader().bind(build_registry().roles)
    try:
        catalog = loader.catalog()
        specs = {role: catalog.spec(role) for role in (roles or list(catalog.entries))}
    except (CatalogError, ValueError) as exc:
        print(f"error: {exc}")
        return 1
    device = detect_device(device)
    failed, done = 0, {}
    for role, spec in specs.items():
        dtype = dtype_for(device, spec.dtype)
        ident = (spec.repo_id, spec.revision, spec.pipeline, dtype)
        if ident in done:
            print(f"{role:12} {spec.repo_id}: same as {done[ident]}")
            continue
        try:
            loader.check_allowed(spec.repo_id)
            snapshot = fetch_snapshot(spec, resolve_commit(spec), dtype, on_progress=print)
        except ModelError as exc:
            failed += 1
            print(f"{role:12} {spec.repo_id}: FAILED: {exc}")
            continue
        done[ident] = role
        fetched = f"downloaded {snapshot.download_bytes / 1e6:.1f} MB in {snapshot.download_seconds:.1f} s" \
            if snapshot.cache_state == "cold" else "already cached"
        print(f"{role:12} {spec.repo_id}@{snapshot.commit} ({snapshot.variant or 'default'} weights, "
              f"{len(snapshot.files)} files): {fetched}")
    return 1 if failed else 0


def _full_kit(roles: list[str]) -> int:
    """Build the full-size stand-in of each role's default model (every role's with no roles named);
    say how long each took and its size."""
    import time

    from assetgen_dagster.registry import build_registry
    from assetgen_dagster.tiny import ensure_full_model, full_models

    available = full_models(build_registry().roles)
    unknown = sorted(set(roles) - set(available))
    if unknown:
        print(f"no full-size model for {', '.join(unknown)} (roles with one: {', '.join(sorted(available))})",
              file=sys.stderr)
        return 2
    by_repo: dict[str, list[str]] = {}
    for role in roles or sorted(available):
        by_repo.setdefault(available[role].repo_id, []).append(role)
    for repo_id, named in by_repo.items():
        began = time.perf_counter()
        folder = ensure_full_model(available[named[0]])
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        print(f"{repo_id} ({', '.join(named)}): {folder} ({size / 1e9:.2f} GB, {time.perf_counter() - began:.1f} s)",
              flush=True)
    return 0


def _validate(files: list[Path]) -> int:
    from assetgen_dagster import settings
    from assetgen_dagster.batches import BatchError, scan_batch_files
    from assetgen_dagster.registry import build_registry

    schema = build_registry().schema
    files = files or scan_batch_files(settings.prompts_dir())
    bad = 0
    for path in files:
        try:
            batch = schema.load(path)
            print(f"ok      {path}: {len(batch.items)} items")
        except BatchError as exc:
            bad += 1
            print(f"INVALID {exc}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
