"""dbt-duckdb plugin of the `lake` target (dbt/profiles.yml): attaches the tree's DuckLake to dbt's connection.

dbt-duckdb creates a profile's `secrets` before any plugin runs, so an S3 secret there would be made before the httpfs
extension that defines its type is loaded (from its wheel, pipelines/lake/extensions.py): the plugin does all of it,
with the same code as every other connection to the lake (attach_lake), the credentials from BTCW_LAKE_*. The profile
still lists the attachment (ATTACH IF NOT EXISTS, a no-op once the plugin has attached it) because that is how
dbt-duckdb learns the `lake` database is a DuckLake (no CASCADE on drop, and so on)."""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.lake.connect import LAKE_ALIAS, LakeConfig, attach_lake


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.tree = str(plugin_config.get("tree") or "demo")

    def configure_connection(self, conn) -> None:
        attach_lake(conn, LakeConfig.for_tree(self.tree), alias=LAKE_ALIAS)
