"""Run by another DuckDB's Python package (an older wheel, installed by `make bi-clients` into build/bi-clients/):
open a serving copy read-only, run the given queries, print {name: rows} as JSON on stdout.

    python read_tables.py <warehouse.duckdb> <queries.json>

queries.json maps a name to a query whose columns are all VARCHAR (see tests/bi_clients/clients.py), so every
client's answer is compared as text, which DuckDB writes the same way in every version (doubles in their shortest
round-trip form). The script uses nothing newer than DuckDB 1.1's Python API."""

import json
import sys

import duckdb


def main() -> None:
    path, queries_file = sys.argv[1], sys.argv[2]
    with open(queries_file) as f:
        queries = json.load(f)
    conn = duckdb.connect(path, read_only=True)
    try:
        answer = {name: [list(row) for row in conn.execute(sql).fetchall()] for name, sql in queries.items()}
    finally:
        conn.close()
    json.dump({"version": duckdb.__version__, "tables": answer}, sys.stdout)


if __name__ == "__main__":
    main()
