"""The soak: the nightly schedule's own run requests, night after night, in live mode against the demo APIs.

`python -m pipelines.soak --nights N --start YYYY-MM-DD [--warehouse DIR] [--no-compare]` (or
`make soak NIGHTS=N START=YYYY-MM-DD`) serves the demo APIs over HTTP on 127.0.0.1 (pipelines.demo.server) and
drives one simulated UTC clock through the days START … START + N - 1:

- every hour of a day, the hourly polls of the rolling sources (pipelines.polling), as live mode sends them;
- at 00:30 of the next day, the real nightly schedule (pipelines.schedules) is evaluated at that instant and its
  RunRequest executed in process (its partition-range tags, the nightly job, live mode redirected to the local
  server with BTCW_SIMULATED_NOW = that instant), against a Dagster instance of the soak's own;
- at the end: nights run, failed runs (failing steps and checks, one line each), wall time, rows per raw table and
  mart, the liquidation orders the demo stream emitted for the soaked days against those in the warehouse
  (missing, extra, duplicated), and (`--compare`, the default) the marts of every backfillable dataset against a
  single live-mode backfill of the same days into a second warehouse (pipelines.soak.compare).

The warehouse starts empty with its first partition at START (BTCW_START_DATE), as a new deployment does: the first
night loads START only, and every now-only snapshot a later night's 3-day window needs was archived on its night.
"""
