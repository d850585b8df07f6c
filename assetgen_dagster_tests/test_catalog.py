import pytest

from assetgen_dagster import settings
from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.kinds.images.tiny import TINY_TEXTURE_REPO as TEXTURE_REPO
from assetgen_dagster.kinds.mesh.tiny import TINY_DEPTH_REPO as DEPTH_REPO
from assetgen_dagster.kinds.mesh.tiny import TINY_SHAP_E_REPO as SHAP_E_REPO
from assetgen_dagster.kinds.sprite_animation.tiny import TINY_VIDEO_REPO as VIDEO_REPO
from assetgen_dagster.kinds.text.tiny import TINY_TEXT_REPO as TEXT_LLM_REPO
from assetgen_dagster.models.catalog import Catalog, CatalogError

AUDIO_REPOS = ("assetgen-tiny/sound-effects", "assetgen-tiny/music", "assetgen-tiny/voice",
               "assetgen-tiny/speech-recognition")
IMAGE_TO_3D_REPO = "assetgen-tiny/shap-e-img2img"
IMAGE_SCORE_REPO = "assetgen-tiny/image-score"


def load_catalog(profile=None, override_path=None):
    """The tests' registry's catalog, as the model loader builds it (profile and user file from the
    environment unless given)."""
    from .conftest import REGISTRY

    return REGISTRY.roles.catalog(profile or settings.profile(),
                                  override_path if override_path is not None else settings.catalog_override_path())


def allowed_repos():
    from .conftest import REGISTRY

    return REGISTRY.roles.allowed_repos()


def test_builtin_profiles_are_valid():
    default = load_catalog("default", override_path=None)
    assert default.spec("concept_art").repo_id == "stabilityai/sd-turbo"
    assert default.spec("mesh").pipeline == "ShapEPipeline"
    assert (default.spec("image_to_3d").repo_id, default.spec("image_to_3d").license) == ("openai/shap-e-img2img", "MIT")
    assert all(spec.license for spec in default.entries.values())
    tiny = load_catalog("tiny", override_path=None)
    assert {spec.repo_id for spec in tiny.entries.values()} == {TEXT_TO_IMAGE_REPO, TEXTURE_REPO, SHAP_E_REPO, DEPTH_REPO,
                                                                TEXT_LLM_REPO, IMAGE_TO_3D_REPO, VIDEO_REPO, *AUDIO_REPOS,
                                                                IMAGE_SCORE_REPO}
    assert set(default.entries) == set(tiny.entries) == {"concept_art", "sprite", "icon", "texture", "mesh",
                                                         "image_to_3d", "depth", "skybox", "sprite_animation",
                                                         "item_text", "dialogue", "localization", "sfx", "music",
                                                         "voice", "speech_recognition", "image_score"}
    assert default.spec("localization").repo_id == "Qwen/Qwen2.5-1.5B-Instruct"
    assert (default.spec("sprite_animation").repo_id, default.spec("sprite_animation").license) == (
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Apache-2.0")
    assert (tiny.spec("skybox").repo_id, default.spec("skybox").params.width) == (TEXTURE_REPO, 1024)
    assert (default.spec("sfx").pipeline, default.spec("music").pipeline, default.spec("voice").pipeline) == (
        "StableAudioPipeline", "AceStepPipeline", "text-to-speech")
    assert default.spec("music").license == default.spec("voice").license.replace("Apache-2.0", "MIT") == "MIT"
    assert (default.spec("speech_recognition").repo_id, default.spec("speech_recognition").license,
            default.spec("speech_recognition").params.max_wer) == ("openai/whisper-large-v3-turbo", "MIT", 0.25)


def test_allow_list_comes_from_the_roles():
    repos = allowed_repos()
    assert {"stabilityai/sd-turbo", "stabilityai/sdxl-turbo", "openai/shap-e", TEXT_TO_IMAGE_REPO,
            "depth-anything/Depth-Anything-V2-Small-hf"} <= set(repos)
    assert len(repos) == len(set(repos))


def test_profile_comes_from_environment(monkeypatch):
    monkeypatch.setenv("ASSETGEN_PROFILE", "default")
    assert load_catalog().profile == "default"
    monkeypatch.setenv("ASSETGEN_PROFILE", "huge")
    with pytest.raises(ValueError, match="ASSETGEN_PROFILE='huge'"):
        load_catalog()


def test_missing_role_says_how_to_fix():
    tiny = load_catalog("tiny", override_path=None)
    without_depth = Catalog(tiny.profile, {k: v for k, v in tiny.entries.items() if k != "depth"})
    with pytest.raises(CatalogError, match="no model for role 'depth' in profile 'tiny'"):
        without_depth.spec("depth")


def test_override_keeps_omitted_fields_and_merges_params(tmp_path, monkeypatch):
    user = tmp_path / "catalog.yaml"
    user.write_text("concept_art: {params: {steps: 3, guidance: 1}}\n")
    monkeypatch.setenv("ASSETGEN_CATALOG", str(user))
    spec = load_catalog("tiny").spec("concept_art")
    assert spec.repo_id == TEXT_TO_IMAGE_REPO and spec.revision == "main"
    assert (spec.params.steps, spec.params.guidance) == (3, 1.0)
    assert (spec.params.width, spec.params.batch_size) == (64, 4)  # kept from the profile
    assert load_catalog("tiny").spec("sprite").params.steps == 2  # other roles untouched


def test_catalog_is_parsed_once_until_the_user_file_changes(tmp_path):
    import os

    user = tmp_path / "catalog.yaml"
    user.write_text("concept_art: {params: {steps: 3}}\n")
    first = load_catalog("tiny", override_path=user)
    assert load_catalog("tiny", override_path=user) is first  # cached
    user.write_text("concept_art: {params: {steps: 5}}\n")
    os.utime(user, ns=(1, 10**18))  # a new mtime even on a coarse clock
    assert load_catalog("tiny", override_path=user).spec("concept_art").params.steps == 5


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
        ("sound: {repo_id: a/b}\n", "unknown role 'sound'"),
        ("concept_art: {dtype: float8}\n", "role 'concept_art': field 'dtype'"),
        ("concept_art: {pipeline: EvilPipeline}\n", "role 'concept_art': field 'pipeline'"),
        ("mesh: {params: {width: 512}}\n", "role 'mesh': field 'params.width'"),  # mesh params have no size
        ("concept_art: {params: {stepz: 3}}\n", "field 'params.stepz'"),
        ("concept_art: {params: {steps: 0}}\n", "field 'params.steps'"),
        ("concept_art: {repo_id: 'no-slash'}\n", "field 'repo_id'"),
        ("concept_art: {trust_remote_code: true}\n", "field 'trust_remote_code'"),
        ("concept_art: [1, 2]\n", "must map field -> value"),
        ("[1, 2]\n", "top level must map role -> fields"),
        ("concept_art: {a: [\n", "invalid YAML"),
    ],
)
def test_invalid_override_names_file_role_and_field(tmp_path, text, expected):
    user = tmp_path / "studio-catalog.yaml"
    user.write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog("tiny", override_path=user)
    assert str(user) in str(info.value)
    assert expected in str(info.value)


def test_missing_override_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read the user catalog"):
        load_catalog("tiny", override_path=tmp_path / "nope.yaml")


def test_the_shipped_styled_catalog_puts_every_styled_image_role_on_a_base_with_an_allowed_ip_adapter():
    """data/catalogs/styled_sdxl.yaml, named by the styled example batch for real models: it validates,
    and each image role a style applies to names an IP-Adapter that the allow-list admits."""
    from .conftest import PROJECT_ROOT, REGISTRY

    catalog = load_catalog("default", PROJECT_ROOT / "data" / "catalogs" / "styled_sdxl.yaml")
    styled = [kind.name for kind in REGISTRY.kinds if "style" in kind.sections]
    assert sorted(styled) == ["concept_art", "icon", "sprite", "texture"]
    for role in styled:
        spec = catalog.spec(role)
        assert spec.repo_id == "stabilityai/stable-diffusion-xl-base-1.0" and spec.license == "CreativeML Open RAIL++-M"
        assert spec.params.ip_adapter in allowed_repos()
        assert spec.params.ip_adapter_weight == "sdxl_models/ip-adapter_sdxl.safetensors"
