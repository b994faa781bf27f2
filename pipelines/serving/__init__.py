"""Publishing the marts for readers (BI, reports): a read-only DuckDB copy and Parquet files, replaced atomically."""
