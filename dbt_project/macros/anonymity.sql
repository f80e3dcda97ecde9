{#- The model's k-anonymity k: config.meta.anonymity.k, 5 if not set (the gate's default,
    pipelines/privacy/anonymity.py). The mart suppresses the quasi-identifiers of people in
    classes smaller than it, so the gate that reads the same setting passes. -#}
{% macro anonymity_k() -%}
    {%- set meta = config.get('meta') or {} -%}
    {%- set settings = meta.get('anonymity') or {} -%}
    {{ settings.get('k', 5) | int }}
{%- endmacro %}
