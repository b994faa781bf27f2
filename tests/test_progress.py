"""The backfill's progress line: phases before the steps, the run's steps from its event log, and what the running
step reports (dbt's nodes); one line in place on a terminal, plain lines elsewhere. No test reads the clock: the
line's is frozen, and a real run's lines are compared without their times."""

import io
import re

import dagster as dg
from dagster._core.utils import make_new_run_id

from pipelines.progress import (
    DbtProgress,
    Detail,
    ProgressLine,
    RunFollower,
    report_detail,
    run_with_progress,
)


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
        assert RunFollower(instance, run_id).poll().steps == (3, None, ["broken"])
    assert out.getvalue().splitlines()[-1].endswith("[3/3] done, failed: broken")


def test_a_step_that_starts_and_ends_between_two_polls_still_gets_its_line():
    """The whole run between two looks at its event log (a step shorter than a poll, as a fast publish is): each
    step it started is still said, in order, not only the count of those that ended."""
    job = dg.Definitions(assets=[first, second, broken]).resolve_implicit_global_asset_job_def()
    out = io.StringIO()
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = make_new_run_id()
        run_with_progress(lambda: job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False),
                          instance, run_id, total_steps=3, out=out, poll_s=600)  # one look, after the run ended
    lines = [re.sub(r"^\d+:\d\d ", "", line) for line in out.getvalue().splitlines()]
    assert [line for line in lines if re.fullmatch(r"\[3/3\] [a-z]+", line)] == ["[3/3] first", "[3/3] second",
                                                                              "[3/3] broken"]
    assert lines[-1] == "[3/3] done, failed: broken"


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


# ---- the line: phases before the steps, the steps, and dbt's own progress inside its step --------------------------

def dbt_events(models: list[str], tests: list[str]) -> list[dict]:
    """dbt's structured events (`--log-format json`, as dagster-dbt runs it) for a build of `models` then `tests`:
    the fields DbtProgress reads, as dbt 1.11 writes them (a test's result counts its total as num_models)."""
    total = len(models) + len(tests)
    events = [{"info": {"name": "MainReportVersion"}, "data": {"version": "=1.11.16"}},
              {"info": {"name": "FoundStats"}, "data": {"stat_line": f"{len(models)} models, {len(tests)} data tests"}}]
    for index, name in enumerate(models + tests, start=1):
        kind = "sql view model staging." if name in models else "test "
        events.append({"info": {"name": "LogStartLine"}, "data": {"description": kind + name, "index": index,
                                                                  "total": total}})
        events.append({"info": {"name": "LogModelResult"}, "data": {"index": index, "total": total, "status": "success"}}
                      if name in models else
                      {"info": {"name": "LogTestResult"}, "data": {"index": index, "num_models": total,
                                                                   "status": "pass"}})
    events.append({"info": {"name": "EndOfRunSummary"}, "data": {"num_errors": 0}})
    return events


def play(line: ProgressLine, screens: list[str] | None = None, out=None) -> None:
    """A backfill's life as the CLI and the dbt step tell it to the line."""
    def seen():
        if screens is not None:
            screens.append(screen(out.getvalue()))

    line.phase("loading the pipeline's code")
    seen()
    line.phase("building the definitions")
    line.phase("building the definitions")  # the same phase again: nothing new to say
    line.phase("creating the run")
    line.steps(0, 3, None, [])
    seen()
    line.steps(0, 3, "raw__prices", [])
    line.steps(1, 3, "dbt_models", [])
    progress = DbtProgress()
    for event in dbt_events(["stg_a", "stg_b"], [f"not_null_{i}" for i in range(18)]):
        if progress.see(event):
            line.detail(Detail("dbt_models", progress.line(), progress.done, progress.total))
        if progress.done == 7 and progress.running and progress.running.endswith("not_null_5"):
            seen()
    line.detail(None)
    line.steps(2, 3, "reports", ["dbt_models"])
    line.steps(3, 3, None, ["dbt_models"])
    line.close()
    seen()


def screen(text: str) -> str:
    """What a terminal shows on its last line after `text`: each carriage return starts the line again."""
    last = text.rstrip("\n").split("\n")[-1]
    return last.split("\r")[-1].replace("\x1b[K", "")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_on_a_terminal_each_phase_step_tenth_of_dbt_and_failure_is_one_plain_line():
    out = io.StringIO()
    play(ProgressLine(out, clock=lambda: 0.0))
    assert out.getvalue().splitlines() == [
        "0:00 loading the pipeline's code",
        "0:00 building the definitions",
        "0:00 creating the run",
        "0:00 [0/3] raw__prices",
        "0:00 [1/3] dbt_models",
        "0:00 [1/3] dbt_models: dbt found 2 models, 18 data tests",
        "0:00 [1/3] dbt_models: dbt 0/20 sql view model staging.stg_a",
        "0:00 [1/3] dbt_models: dbt 2/20 sql view model staging.stg_b",
        *[f"0:00 [1/3] dbt_models: dbt {n}/20 test not_null_{n - 3}" for n in range(4, 20, 2)],
        "0:00 [1/3] dbt_models: dbt 20/20",
        "0:00 [2/3] reports",
        "0:00 [2/3] failed: dbt_models",
        "0:00 [3/3] done, failed: dbt_models",
    ]


def test_on_a_terminal_it_is_one_line_rewritten_in_place(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out, screens = Terminal(), []
    started = [0.0]  # the line's start; every later reading of its clock is 75 s on
    line = ProgressLine(out, clock=lambda: started.pop() if started else 75.0, tick_s=None)
    play(line, screens, out)
    assert screens == [
        "1:15 loading the pipeline's code…",
        "1:15 |                    | 0/3 steps | creating the run…",
        "1:15 |██████              | 1/3 steps | dbt_models: dbt 7/20 test not_null_5",
        "1:15 |████████████████████| 3/3 steps | failed: dbt_models",
    ]
    assert out.getvalue().count("\n") == 1 and out.getvalue().endswith("\n")  # one line, ended when the run is


def test_a_long_step_is_cut_to_the_terminals_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    out = Terminal()
    line = ProgressLine(out, clock=lambda: 0.0, tick_s=None)
    line.steps(0, 3, "a_step_with_a_very_long_name_" * 4, [])
    assert len(screen(out.getvalue())) == 39


def test_dbt_progress_counts_every_node_once_and_never_past_its_total():
    progress = DbtProgress()
    assert progress.line() == "dbt starting (parsing the project)"
    events = dbt_events(["stg_a"], ["t1"])
    # dbt's exposures end with a result line that no start line announced: counted, but never past the total
    events.insert(-1, {"info": {"name": "LogNodeNoOpResult"}, "data": {"index": 2, "total": 2, "status": ""}})
    for event in events:
        progress.see(event)
    assert (progress.done, progress.total, progress.line()) == (2, 2, "dbt 2/2")
    assert not progress.see({"info": {"name": "SQLQuery"}, "data": {"sql": "select 1"}})


@dg.asset
def reporter(context: dg.AssetExecutionContext):
    """Reports dbt-like progress from inside its step, as pipelines/assets/dbt_models.py does."""
    progress = DbtProgress()
    for event in dbt_events(["stg_a", "stg_b"], ["t1", "t2"]):
        if progress.see(event):
            report_detail(context.run_id, "reporter", progress)
    report_detail(context.run_id, "reporter", None)
    return 1


@dg.asset(deps=[reporter])
def after():
    return 2


def test_a_real_runs_step_reports_its_progress_to_the_line():
    job = dg.Definitions(assets=[reporter, after]).resolve_implicit_global_asset_job_def()
    out = io.StringIO()
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = make_new_run_id()
        result = run_with_progress(
            lambda: job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False),
            instance, run_id, total_steps=2, out=out, poll_s=0.05, planned=2,
        )
        assert result.success and RunFollower(instance, run_id).poll().planned == 2  # one planned event per asset
    lines = out.getvalue().splitlines()
    reported = [re.sub(r"^\d+:\d\d (\[\d/2\] )?", "", text) for text in lines if "reporter: " in text]
    assert reported == ["reporter: dbt found 2 models, 2 data tests",
                        "reporter: dbt 0/4 sql view model staging.stg_a",
                        "reporter: dbt 1/4 sql view model staging.stg_a",
                        "reporter: dbt 2/4 sql view model staging.stg_b",
                        "reporter: dbt 3/4 test t1",
                        "reporter: dbt 4/4"]
    assert re.fullmatch(r"\d+:\d\d \[2/2\] done", lines[-1])


@dg.asset
def warns(context: dg.AssetExecutionContext):
    context.log.warning("careful: a warning during the run")
    return 1


def test_on_a_terminal_what_the_run_writes_to_stderr_goes_above_the_line(monkeypatch):
    """Dagster's console log (its warnings, in `make backfill`) starts on a line of its own, and the progress line
    is drawn again under it, rather than the two running into each other."""
    monkeypatch.setenv("COLUMNS", "200")
    job = dg.Definitions(assets=[warns]).resolve_implicit_global_asset_job_def()
    out = Terminal()
    line = ProgressLine(out, clock=lambda: 0.0, tick_s=None)
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = make_new_run_id()
        run_with_progress(lambda: job.execute_in_process(instance=instance, run_id=run_id), instance, run_id,
                          total_steps=1, line=line, poll_s=0.05)
    line.close()
    text = out.getvalue()
    logged = [m.start() for m in re.finditer(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - dagster - ", text)]
    assert any("careful: a warning during the run" in text[i:text.index("\n", i)] for i in logged)
    assert all(i == 0 or text[i - 1] == "\n" or text[:i].endswith("\r\x1b[K") for i in logged)
    assert screen(text) == "0:00 |████████████████████| 1/1 steps"
