{#- A row-level business rule: every row of `model` satisfies the SQL `expression`.
    `expression` may name the snapshot as __as_of_date__ / __as_of_ts__. -#}
{% test holds(model, expression) %}
{%- set rule = expression | replace('__as_of_date__', as_of_date()) | replace('__as_of_ts__', as_of_ts()) -%}
select *
from {{ model }}
where not coalesce(({{ rule }}), false)
{% endtest %}
