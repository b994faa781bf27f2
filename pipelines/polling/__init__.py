"""Polls of the sources whose history rolls off within a day or is capped (OKX liquidation orders): each poll
archives what the source serves now, write-once, so a day can later be read from every poll reaching into it.

`poller`: one poll, every rolling source now, and the demo's simulation of the schedule; `jobs`: the Dagster job
and hourly schedule. It imports pipelines.ingest and pipelines.sources, never the reverse."""
