"""The backfill's progress bar follows the run's steps from the event log."""

import io

import dagster as dg
from dagster._core.utils import make_new_run_id

from pipelines.progress import run_with_progress, step_progress


@dg.asset
def first():
    return 1


@dg.asset
def second(first):
    return first + 1


@dg.asset(deps=[second])
def broken():
    raise ValueError("broken on purpose")


def test_the_bar_counts_every_finished_step_and_names_failures():
    job = dg.Definitions(assets=[first, second, broken]).resolve_implicit_global_asset_job_def()
    out = io.StringIO()
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = make_new_run_id()
        result = run_with_progress(
            lambda: job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False),
            instance, run_id, total_steps=3, out=out, poll_s=0.05,
        )
        assert not result.success
        assert step_progress(instance, run_id) == (3, None, ["broken"])
    assert "3/3" in out.getvalue()


def test_an_exception_in_the_run_reaches_the_caller():
    with dg.DagsterInstance.ephemeral() as instance:
        def work():
            raise RuntimeError("could not start")

        try:
            run_with_progress(work, instance, make_new_run_id(), total_steps=1, out=io.StringIO())
        except RuntimeError as error:
            assert "could not start" in str(error)
        else:
            raise AssertionError("the worker's exception was swallowed")
