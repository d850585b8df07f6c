import subprocess
import sys

from assetgen_dagster.definitions import defs

from .conftest import PROJECT_ROOT

HEAVY = ("torch", "diffusers", "transformers")


def test_code_location_does_not_import_heavy_libraries():
    code = (
        "import sys, assetgen_dagster.definitions\n"
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
