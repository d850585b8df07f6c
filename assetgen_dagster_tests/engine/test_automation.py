"""The derived assets' automation condition, evaluated by Dagster's own evaluator on a two-asset graph."""

from dagster import (
    AssetKey,
    AutomationCondition,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    asset,
    define_asset_job,
    evaluate_automation_conditions,
)

from assetgen_dagster.engine.common import follows_upstreams

batches = DynamicPartitionsDefinition(name="toy_batches")
BATCH_RUN = {"assetgen/batch_hash": "content"}  # the tag of the sensor's runs (the condition does not read it)
# What follows_upstreams replaced: Dagster's eager() without its "newly missing" trigger.
DAGSTERS_ANY_DEPS_UPDATED = (AutomationCondition.any_deps_updated().since_last_handled()
                             & ~AutomationCondition.any_deps_missing() & ~AutomationCondition.any_deps_in_progress()
                             & ~AutomationCondition.in_progress())


def graph(condition: AutomationCondition) -> list:
    @asset(partitions_def=batches)
    def upstream() -> None:
        """Made by every run."""

    @asset(partitions_def=batches, deps=[upstream], automation_condition=condition)
    def derived(context) -> None:
        """Fails when a run is tagged so."""
        if context.run.tags.get("fail") == "derived":
            raise RuntimeError("derived step failed")

    return [upstream, derived]


def ticks(condition: AutomationCondition) -> list[set[str]]:
    """The batches a tick requests `derived` for after each step of a day:
    1. two batch runs, b1's failing in `derived`, then b2's (so b2's is the upstream's latest
       materialization when b1 is looked at: the case Dagster's executed_with_root_target gets wrong);
    2. `upstream` alone for b2 by hand; 3. both assets for b1 by hand."""
    defs, instance = Definitions(assets=graph(condition), jobs=[define_asset_job("batch")]), DagsterInstance.ephemeral()

    def run(batch: str, assets: list[str], tags: dict) -> None:
        # with an explicit asset selection, as the batch sensor's run requests have
        defs.resolve_job_def("batch").execute_in_process(
            partition_key=batch, instance=instance, asset_selection=[AssetKey(a) for a in assets], tags=tags,
            raise_on_error=False)

    instance.add_dynamic_partitions("toy_batches", ["b1", "b2"])
    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor  # the first tick sees them
    requested = []
    for step in ([("b1", ["upstream", "derived"], {**BATCH_RUN, "fail": "derived"}),
                  ("b2", ["upstream", "derived"], BATCH_RUN)],
                 [("b2", ["upstream"], {})],
                 [("b1", ["upstream", "derived"], {})]):
        for batch, assets, tags in step:
            run(batch, assets, tags)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = result.cursor
        requested.append(result.get_requested_partitions(AssetKey("derived")))
    return requested


def test_dagsters_any_deps_updated_follows_a_batch_run_when_another_batch_ran_after_it():
    assert ticks(DAGSTERS_ANY_DEPS_UPDATED)[0] == {"b1"}  # the duplicate run the scale-out test saw


def test_batch_runs_are_never_followed_and_an_upstream_made_by_hand_is():
    assert ticks(follows_upstreams()) == [set(), {"b2"}, set()]
