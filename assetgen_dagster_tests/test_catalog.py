import pytest

from assetgen_dagster.catalog import Catalog, CatalogError, load_catalog
from assetgen_dagster.tiny import DEPTH_REPO, SHAP_E_REPO, TEXT_TO_IMAGE_REPO


def test_builtin_profiles_are_valid():
    default = load_catalog("default", override_path=None)
    assert default.spec("concept_art").repo_id == "stabilityai/sd-turbo"
    assert default.spec("mesh").pipeline == "ShapEPipeline"
    assert all(spec.license for spec in default.entries.values())
    tiny = load_catalog("tiny", override_path=None)
    assert {spec.repo_id for spec in tiny.entries.values()} == {TEXT_TO_IMAGE_REPO, SHAP_E_REPO, DEPTH_REPO}


def test_profile_comes_from_environment(monkeypatch):
    monkeypatch.setenv("ASSETGEN_PROFILE", "default")
    assert load_catalog().profile == "default"
    monkeypatch.setenv("ASSETGEN_PROFILE", "huge")
    with pytest.raises(ValueError, match="ASSETGEN_PROFILE='huge'"):
        load_catalog()


def test_missing_kind_says_how_to_fix():
    tiny = load_catalog("tiny", override_path=None)
    without_depth = Catalog(tiny.profile, {k: v for k, v in tiny.entries.items() if k != "depth"})
    with pytest.raises(CatalogError, match="no model for kind 'depth' in profile 'tiny'"):
        without_depth.spec("depth")


def test_override_keeps_omitted_fields_and_merges_params(tmp_path, monkeypatch):
    user = tmp_path / "catalog.yaml"
    user.write_text("concept_art: {params: {steps: 3, guidance: 1}}\n")
    monkeypatch.setenv("ASSETGEN_CATALOG", str(user))
    spec = load_catalog("tiny").spec("concept_art")
    assert spec.repo_id == TEXT_TO_IMAGE_REPO and spec.revision == "main"
    assert (spec.params.steps, spec.params.guidance) == (3, 1.0)
    assert (spec.params.width, spec.params.batch_size) == (64, 4)  # kept from the profile
    assert load_catalog("tiny").spec("sprite").params.steps == 2  # other kinds untouched


def test_override_with_new_repo_does_not_inherit_revision_or_license(tmp_path):
    user = tmp_path / "catalog.yaml"
    user.write_text("concept_art: {repo_id: stabilityai/sdxl-turbo}\nmesh: {repo_id: openai/shap-e, "
                    "pipeline: ShapEPipeline, license: MIT, revision: abc123}\n")
    catalog = load_catalog("tiny", override_path=user)
    spec = catalog.spec("concept_art")
    assert spec.repo_id == "stabilityai/sdxl-turbo"
    assert spec.revision == "main"
    assert spec.license.startswith("unknown")
    assert catalog.spec("mesh").revision == "abc123"  # a new repo keeps the revision it was given


@pytest.mark.parametrize(
    "text,expected",
    [
        ("sound: {repo_id: a/b}\n", "unknown kind 'sound'"),
        ("concept_art: {dtype: float8}\n", "kind 'concept_art': field 'dtype'"),
        ("concept_art: {pipeline: EvilPipeline}\n", "kind 'concept_art': field 'pipeline'"),
        ("concept_art: {params: {stepz: 3}}\n", "field 'params.stepz'"),
        ("concept_art: {params: {steps: 0}}\n", "field 'params.steps'"),
        ("concept_art: {repo_id: 'no-slash'}\n", "field 'repo_id'"),
        ("concept_art: {trust_remote_code: true}\n", "field 'trust_remote_code'"),
        ("concept_art: [1, 2]\n", "must map field -> value"),
        ("[1, 2]\n", "top level must map kind -> fields"),
        ("concept_art: {a: [\n", "invalid YAML"),
    ],
)
def test_invalid_override_names_file_kind_and_field(tmp_path, text, expected):
    user = tmp_path / "studio-catalog.yaml"
    user.write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog("tiny", override_path=user)
    assert str(user) in str(info.value)
    assert expected in str(info.value)


def test_missing_override_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read the user catalog"):
        load_catalog("tiny", override_path=tmp_path / "nope.yaml")
