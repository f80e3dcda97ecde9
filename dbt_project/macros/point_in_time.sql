{#-
Point in time. A snapshot "as of D" (`as_of`, see build_value below; a date YYYY-MM-DD; default: today UTC at the
start of the run) uses only what was known before D 00:00 UTC:

- an order, its items, payments and customer record: if purchased before D;
- a delivery: if delivered (order_delivered_customer_date) before D; a hand-over to the
  carrier: if before D;
- a late delivery: if delivered after the estimate before D, or not delivered by D although
  the estimate lies before D;
- a review: if answered (review_answer_timestamp) before D. A review without an answer time
  never counts (its score has no known time);
- a cancellation (status canceled or unavailable; Olist records no time for it): known only
  from the order's estimated delivery date on (at D > estimate; never when the estimate is
  missing). Before that a canceled order counts as an open order placed by the customer,
  exactly as it looked at the time. This is conservative: the status is the export's, so
  it may be later than the estimate; we never use it earlier;
- rows without an event time (products, sellers, customer profiles): known from the start of
  the interval of the lake partition that delivered them; the latest such row per key wins.
-#}

{#- The build's values (as_of, release_id, run_id): a `--vars` value when given, else the
    environment variable PIPELINES_BUILD_<NAME> (how `pipelines` passes them), else `default`.
    The variable is read only while dbt executes, never while it parses: any change of
    `--vars` makes dbt re-parse the whole project, and a file that reads an environment
    variable at parse time is re-parsed when its value changes; read this way, a new value
    every build still reuses the saved manifest (target/partial_parse.msgpack). -#}
{% macro build_value(name, default=none) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute -%}
        {%- set value = env_var('PIPELINES_BUILD_' ~ (name | upper), '') or none -%}
    {%- endif -%}
    {{- return(default if value is none else value) -}}
{%- endmacro %}

{% macro as_of_text() -%}
    {%- set value = build_value('as_of') -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d') -%}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error("var 'as_of' must be a date YYYY-MM-DD, got '" ~ text ~ "'") }}
    {%- endif -%}
    {{- text -}}
{%- endmacro %}

{% macro as_of_date() -%}
    date '{{ as_of_text() }}'
{%- endmacro %}

{% macro as_of_ts() -%}
    timestamp '{{ as_of_text() }} 00:00:00'
{%- endmacro %}

{#- Release metadata stamped on every mart row. -#}
{% macro release_id() -%}
    {{ return(build_value('release_id', 'manual') | string) }}
{%- endmacro %}

{% macro run_id() -%}
    {{ return(build_value('run_id', 'manual') | string) }}
{%- endmacro %}

{% macro release_columns() -%}
    cast({{ dbt.string_literal(release_id()) }} as varchar) as _release_id,
    cast({{ dbt.string_literal(run_id()) }} as varchar) as _run_id
{%- endmacro %}

{#- a / b as a double; null when b is 0 or null. -#}
{% macro safe_ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}
