{#- Data tests judge the days a run may have changed, not all history (issue 17: a nightly's tests must not grow with
    the warehouse). Every generic test reads its model through get_where_subquery; this project's version keeps the
    rows of the tested model's window column that fall on a day the run may rewrite (in_any_rewritten_day: the
    window, the day before it, and the rolling marts' lookahead after it), ANDed with the test's own `where`.
    Rows with no day at all (a null window column) are kept too: they fall on no day, so a day filter alone would
    hide them from every run, the not-null test of the window column among them (the filter costs the same with
    them: DuckDB still prunes by the column's statistics).

    - The window column: the model's `meta: {window_column: …}`, else the first of snapshot_date, date,
      partition_date among its declared columns. A model with none is tested whole.
    - A uniqueness test whose key lacks the window column (a block height, an instrument id unique across days) is
      tested whole: a window row could duplicate a row of any other day.
    - Without a window (a plain `dbt test`, `make audit`) the bounds are 2009-01-03 … 2100-01-01: every row.
    Singular tests scope themselves (tests/*.sql), the way the reconciliation tests always have. -#}
{% macro duckdb__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set column = test_window_column() if execute else none -%}
    {%- set clauses = [] -%}
    {%- if where -%}{%- do clauses.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- if column -%}
        {%- set day = adapter.quote(column) -%}
        {%- do clauses.append('(' ~ in_any_rewritten_day(day) ~ ' or ' ~ day ~ ' is null)') -%}
    {%- endif -%}
    {%- if clauses -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ clauses | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The column the test in `model` (the test node) is scoped by, or none (see above). -#}
{% macro test_window_column() -%}
    {%- set node_id = model.get('attached_node') or (model.get('depends_on', {}).get('nodes', []) | first) -%}
    {%- set node = graph.nodes.get(node_id) or graph.sources.get(node_id) -%}
    {%- if not node -%}{%- do return(none) -%}{%- endif -%}
    {%- set columns = node.get('columns', {}) -%}
    {%- set meta = node.get('config', {}).get('meta', {}) or node.get('meta', {}) -%}
    {%- set chosen = meta.get('window_column') -%}
    {%- if not chosen -%}
        {%- set chosen = ['snapshot_date', 'date', 'partition_date'] | select('in', columns) | first -%}
    {%- endif -%}
    {%- if not chosen -%}{%- do return(none) -%}{%- endif -%}
    {%- set test = model.get('test_metadata') or {} -%}
    {%- set kwargs = test.get('kwargs', {}) -%}
    {%- if test.get('name') in ('unique', 'unique_combination') -%}
        {%- set key = kwargs.get('combination') or [kwargs.get('column_name')] -%}
        {%- if chosen not in key -%}{%- do return(none) -%}{%- endif -%}
    {%- endif -%}
    {%- do return(chosen) -%}
{%- endmacro %}
