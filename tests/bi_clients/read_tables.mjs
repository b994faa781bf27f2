// The same as read_tables.py, through DuckDB's Node.js client (@duckdb/node-api, the package BI tools built on
// Node bundle): open a serving copy read-only, run the given queries, print {name: rows} as JSON on stdout.
//
//     node read_tables.mjs <warehouse.duckdb> <queries.json>
import { readFileSync } from "node:fs";
import { DuckDBInstance, version } from "@duckdb/node-api";

const [path, queriesFile] = process.argv.slice(2);
const queries = JSON.parse(readFileSync(queriesFile, "utf8"));
const instance = await DuckDBInstance.create(path, { access_mode: "READ_ONLY" });
const connection = await instance.connect();
const tables = {};
for (const [name, sql] of Object.entries(queries)) {
  const reader = await connection.runAndReadAll(sql);
  tables[name] = reader.getRowsJson();
}
connection.closeSync();
instance.closeSync();
process.stdout.write(JSON.stringify({ version: version(), tables }));
