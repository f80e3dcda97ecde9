{#- Test `where` configs cannot call project macros (dbt renders them at parse time), so they
    name the snapshot with placeholders, replaced here when the test runs:
    __as_of_date__ -> as_of_date(), __as_of_ts__ -> as_of_ts(). -#}
{% macro get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = where | replace('__as_of_date__', as_of_date()) | replace('__as_of_ts__', as_of_ts()) %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}
