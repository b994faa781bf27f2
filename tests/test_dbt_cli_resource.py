"""The project's dbt resource (ProjectDbtCli, pipelines/assets/dbt_models.py) starts dbt without dagster-dbt's two fixed
costs: no `dbt --version` subprocess (which also asks PyPI for dbt's latest version) and no dbt adapter built in the
run's process. The build itself is unchanged: the end-to-end runs go through this resource."""

from __future__ import annotations

import importlib.metadata
import inspect
from unittest import mock

import dagster_dbt.core.resource as dagster_dbt_resource
import pytest
from dagster_dbt import DbtCliResource
from packaging import version

from pipelines.assets.dbt_models import ProjectDbtCli
from pipelines.dbt_project import ManifestMissing, dbt_env, dbt_executable, dbt_project, prepared_manifest
from pipelines.settings import Settings


def _no_version_subprocess():
    return mock.patch.object(dagster_dbt_resource, "check_output",
                             side_effect=AssertionError("`dbt --version` was run in a subprocess"))


def test_the_venvs_dbt_is_known_by_its_package_and_a_command_runs_without_an_adapter(tmp_path):
    with _no_version_subprocess():
        dbt = ProjectDbtCli(project_dir=dbt_project(), dbt_executable=dbt_executable())
        assert dbt._cli_version == version.parse(importlib.metadata.version("dbt-core"))
        invocation = dbt.cli(["ls", "--resource-type", "seed", "--output", "name"], target_path=tmp_path / "target")
        invocation.wait()
    assert invocation.is_successful()
    assert invocation.adapter is None
    assert (tmp_path / "target" / "manifest.json").exists()  # it was dbt that ran, in the folder given


def test_another_dbt_executable_is_still_asked_its_version(tmp_path):
    elsewhere = tmp_path / "dbt"
    elsewhere.write_text("#!/bin/sh\nexit 0\n")
    elsewhere.chmod(0o755)
    with mock.patch.object(dagster_dbt_resource, "check_output", return_value=b"Core:\n  - installed: 1.9.4\n") as run:
        dbt = ProjectDbtCli(project_dir=dbt_project(), dbt_executable=str(elsewhere))
        assert dbt._cli_version == version.parse("1.9.4")
    run.assert_called_once_with([str(elsewhere), "--version"])


def test_dagster_dbt_still_calls_what_the_resource_replaces():
    """A tripwire for dagster-dbt upgrades: were these renamed, the overrides would silently do nothing."""
    source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in source
    assert "self._initialize_dbt_core_adapter(" in source
    assert isinstance(inspect.getattr_static(DbtCliResource, "_cli_version"), type(
        inspect.getattr_static(ProjectDbtCli, "_cli_version")))


def test_an_operators_dbt_log_level_wins_over_the_projects(monkeypatch):
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # the default, "info": tests/test_dbt_invocation.py
    assert dbt_env(Settings.from_env({"BTCW_WAREHOUSE_DIR": "/tmp/w"}))["DBT_LOG_LEVEL_FILE"] == "debug"


def test_a_missing_manifest_is_one_line_saying_how_to_make_it(tmp_path):
    from types import SimpleNamespace

    with pytest.raises(ManifestMissing, match=r"manifest\.json does not exist: run `make manifest` \(dbt parse\)"):
        prepared_manifest(SimpleNamespace(manifest_path=tmp_path / "target" / "manifest.json"))
    assert prepared_manifest(dbt_project()) == dbt_project().manifest_path  # prepared by make
