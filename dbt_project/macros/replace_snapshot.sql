{#- pre_hook of the marts: delete this run's as_of snapshot before delete+insert writes it,
    so a rebuild replaces the snapshot even when it now has no rows (idempotent runs). -#}
{% macro replace_snapshot() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where as_of_date = {{ as_of_date() }}
    {%- else -%}
        select 1 as nothing_to_replace
    {%- endif -%}
{%- endmacro %}
