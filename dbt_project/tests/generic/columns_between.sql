{#- Every non-null value of each of `columns` lies in [min_value, max_value] (either bound may
    be omitted). One test node per rule and model; failing rows name the column. -#}
{% test columns_between(model, columns, min_value=none, max_value=none) %}
{%- for column in columns %}
select '{{ column }}' as column_name, cast({{ column }} as double) as value
from {{ model }}
where {{ column }} is not null
  and (
    {%- if min_value is not none %} {{ column }} < {{ min_value }}{% endif -%}
    {%- if min_value is not none and max_value is not none %} or{% endif -%}
    {%- if max_value is not none %} {{ column }} > {{ max_value }}{% endif %}
  )
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
