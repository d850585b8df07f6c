"""The team instance (deploy/postgres/dagster.yaml) against a real, throwaway PostgreSQL server.

The fixture runs initdb + pg_ctl on a free loopback port through the cluster's LocalPostgres (as
the `postgres` user when the tests run as root). `.ci/run` installs Debian's postgresql when its binaries are missing, so CI always has one.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assetgen_dagster.partitions import PROMPT_BATCHES

from .conftest import PROJECT_ROOT, asset_defs, resources, sensor_tick, write_batch

textures, pbr_maps = asset_defs("textures", "pbr_maps")

BATCH = "items:\n  - {id: floor, kind: texture, prompt: 'stone floor'}\n  - {id: rock, kind: concept_art, prompt: x}\n"


class Server(dict):
    """The ASSETGEN_PG_* environment of a running server, and a way to restart it."""

    restart: object


@pytest.fixture(scope="module")
def postgres():
    from assetgen_dagster.cluster.servers import LocalPostgres, ServerMissing

    root = Path(tempfile.mkdtemp(prefix="assetgen-pg-"))
    root.chmod(0o755)  # as root, the server runs as the postgres user and must reach its folder
    try:
        server = LocalPostgres(root, durable=False)
    except ServerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have PostgreSQL: .ci/run installs it when initdb/pg_ctl are missing ({exc})")
        pytest.skip(f"PostgreSQL TESTS SKIPPED: {exc}")
    server.start()
    env = Server(server.env())
    env.restart = server.restart
    try:
        yield env
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_home(postgres, tmp_path, monkeypatch):
    for key, value in postgres.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    return home


def query(env, sql, *args):
    import psycopg2

    with psycopg2.connect(host=env["ASSETGEN_PG_HOST"], port=int(env["ASSETGEN_PG_PORT"]),
                          user=env["ASSETGEN_PG_USER"], dbname=env["ASSETGEN_PG_DB"]) as conn:
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()


def test_pipeline_state_lives_in_postgres(tiny_kit, workdir, pg_home, postgres):
    write_batch(workdir / "prompts", "pgbatch", BATCH)
    with DagsterInstance.from_config(str(pg_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        tick = sensor_tick(instance)
        for request in tick.dynamic_partitions_requests:
            instance.add_dynamic_partitions(PROMPT_BATCHES, list(request.partition_keys))
        result = materialize([textures, pbr_maps], partition_key="pgbatch", instance=instance,
                             resources=resources())
        assert result.success
        run_id = result.run_id

    # Read it back with plain SQL: nothing is left in local files.
    assert query(postgres, "SELECT status FROM runs WHERE run_id = %s", run_id) == [("SUCCESS",)]
    assert ("pgbatch",) in query(postgres, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s",
                                 PROMPT_BATCHES)
    materialized = query(postgres, "SELECT asset_key, partition, event FROM event_logs WHERE run_id = %s AND "
                                   "dagster_event_type = 'ASSET_MATERIALIZATION'", run_id)
    assert {(json_key, partition) for json_key, partition, _ in materialized} == {
        ('["textures"]', "pgbatch"), ('["pbr_maps"]', "pgbatch")}
    textures_event = next(event for key, _, event in materialized if key == '["textures"]')
    assert '"revision"' in textures_event and '"generated"' in textures_event  # metadata is stored
    checks = dict(query(postgres, "SELECT check_name, execution_status FROM asset_check_executions WHERE run_id = %s",
                        run_id))
    assert checks["tileable"] == "SUCCEEDED" and checks["normals_unit_length"] == "SUCCEEDED"


def test_cli_run_against_postgres(tiny_kit, workdir, pg_home, postgres):
    write_batch(workdir / "prompts", "clibatch", BATCH)
    with DagsterInstance.from_config(str(pg_home)) as instance:
        instance.add_dynamic_partitions(PROMPT_BATCHES, ["clibatch"])
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "assetgen_dagster.definitions",
         "--select", "concept_art", "--partition", "clibatch"],
        cwd=workdir, env={**os.environ, "DAGSTER_HOME": str(pg_home)}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with DagsterInstance.from_config(str(pg_home)) as instance:
        [record] = instance.fetch_materializations(AssetKey("concept_art"), limit=5).records
        assert record.partition_key == "clibatch"
        assert record.asset_materialization.metadata["generated"].value == 1
    assert not list(pg_home.glob("history")) and not list(pg_home.glob("storage/*.db"))


def test_a_postgres_restart_mid_run(tiny_kit, workdir, pg_home, postgres):
    """`pg_ctl restart` while a run generates: the run completes (dagster-postgres reconnects for the
    writes that follow) or fails saying why; either way no file or manifest is corrupted and a
    re-run completes, reusing what was finished."""
    import json
    import time

    from PIL import Image

    from assetgen_dagster.engine.manifest import Manifest

    count = 60
    write_batch(workdir / "prompts", "pgrestart",
                "items:\n" + "".join(f"  - {{id: item{n}, kind: concept_art, prompt: 'prop {n}'}}\n" for n in range(count)))
    with DagsterInstance.from_config(str(pg_home)) as instance:
        instance.add_dynamic_partitions(PROMPT_BATCHES, ["pgrestart"])
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
               "assetgen_dagster.definitions", "--select", "concept_art", "--partition", "pgrestart"]
    env = {**os.environ, "DAGSTER_HOME": str(pg_home)}
    out = workdir / "outputs" / "pgrestart" / "concept_art"
    log = workdir / "run.log"  # a file: a stderr pipe nobody reads while the run works would stall it
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 120
    while not (out.is_dir() and len(list(out.glob("*.png"))) >= 4):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before writing"
        time.sleep(0.01)
    postgres.restart()
    restarted_at = len(list(out.glob("*.png")))
    process.wait(timeout=300)
    stderr = log.read_text()
    assert restarted_at < count, "restarted too late to test anything"
    print(f"run after a restart at {restarted_at}/{count} items: exit {process.returncode}")
    if process.returncode != 0:  # failing is allowed, but clearly
        assert "OperationalError" in stderr or "connection" in stderr.lower(), stderr[-3000:]
    for png in out.glob("*.png"):
        with Image.open(png) as image:
            image.load()
    manifest = Manifest(out, "pgrestart", "concept_art")
    assert manifest.corrupt is None
    assert all(manifest.current(item, entry["identity"]) for item, entry in manifest.entries.items())

    rerun = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(json.loads((out / "manifest.json").read_text())["items"]) == count
    rows = query(postgres, "SELECT status FROM runs ORDER BY create_timestamp")
    assert rows[-1] == ("SUCCESS",)


def test_a_worker_run_holding_pooled_connections_survives_a_postgres_restart(tiny_kit, workdir, pg_home, postgres):
    """A Celery worker's run keeps a pool of connections (cluster/worker.py: one per query cost ~0.45 s a
    run); a restart drops them all, and each is replaced when next taken from the pool, so the run
    still completes, as it does with a connection per query."""
    import threading
    import time

    from assetgen_dagster.cluster.worker import hold_connections

    count = 40
    write_batch(workdir / "prompts", "pooled",
                "items:\n" + "".join(f"  - {{id: item{n}, kind: concept_art, prompt: 'prop {n}'}}\n" for n in range(count)))
    out = workdir / "outputs" / "pooled" / "concept_art"
    restarted = []

    def restart_while_it_writes() -> None:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and len(list(out.glob("*.png"))) >= 4) and time.monotonic() < deadline:
            time.sleep(0.01)
        postgres.restart()
        restarted.append(len(list(out.glob("*.png"))))

    with DagsterInstance.from_config(str(pg_home)) as instance:
        hold_connections(instance)
        instance.add_dynamic_partitions(PROMPT_BATCHES, ["pooled"])
        restarter = threading.Thread(target=restart_while_it_writes)
        restarter.start()
        result = materialize(asset_defs("concept_art"), partition_key="pooled", instance=instance,
                             resources=resources(), raise_on_error=False)
        restarter.join()
    assert restarted and restarted[0] < count, "restarted too late to test anything"
    assert result.success
    assert len(list(out.glob("*.png"))) == count
