{#- Models land in the schema their folder configures (staging, intermediate, marts), not in
    "<target schema>_<custom schema>": the warehouse is one DuckDB file per data directory. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
