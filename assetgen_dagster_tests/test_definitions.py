import subprocess
import sys

from dagster import AssetKey

from assetgen_dagster.definitions import build_definitions

from .conftest import PROJECT_ROOT, REGISTRY

HEAVY = ("torch", "diffusers", "transformers", "numpy")
defs = build_definitions(REGISTRY)


def test_code_location_does_not_import_heavy_libraries():
    """Loading the code location (importing it and building its definitions, as Dagster does) imports
    no torch, diffusers, transformers or numpy: every run process and `dagster dev` pays for imports."""
    code = (
        "import sys, assetgen_dagster.definitions as location\n"
        "location.defs()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_asset_explains_itself_in_the_ui():
    for assets_def in defs.resolve_all_asset_specs():
        assert assets_def.description, assets_def.key
        assert assets_def.group_name != "default", assets_def.key
        assert assets_def.kinds, assets_def.key
        assert assets_def.owners, assets_def.key


def test_definitions_validate_on_the_workspace():
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "dagster") if (PROJECT_ROOT / ".venv").exists() else "dagster",
         "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_dg_loads_the_same_definitions():
    """`dg check defs` (dagster-dg-cli, the [tool.dg] section) works beside `dagster dev -w workspace.yaml`."""
    bin_dir = PROJECT_ROOT / ".venv" / "bin"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "VIRTUAL_ENV": str(PROJECT_ROOT / ".venv"), "HOME": str(PROJECT_ROOT)}
    result = subprocess.run([str(bin_dir / "dg") if bin_dir.exists() else "dg", "check", "defs"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_the_pack_and_the_job_cover_every_registered_kind():
    graph = defs.resolve_asset_graph()
    packed = {target.asset for kind in REGISTRY.kinds for target in kind.pack}
    assert {key.to_user_string() for key in graph.get(AssetKey("asset_pack")).parent_keys} == packed
    made = {item_asset.name for kind in REGISTRY.kinds for item_asset in kind.assets}
    job = defs.resolve_job_def("generate_batch")
    assert made | {"asset_pack"} == {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
