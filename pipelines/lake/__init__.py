"""The DuckLake warehouse's local servers (issue 16): a PostgreSQL catalog and a SeaweedFS S3 server, started and
stopped by the project (`make lake-up` / `make lake-down`, `python -m pipelines.lake up|down|status|env`).

Below pipelines.assets and pipelines.ingest: nothing here imports them. The servers are in pipelines.lake.services."""
