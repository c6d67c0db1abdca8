{% test percentage_range(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0 or {{ column_name }} > 100
{% endtest %}

{% test non_negative(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0
{% endtest %}

{# A column's range as its department contract states it (`range: [low, high]`, high may be open):
   tests/test_dataset_pieces.py checks that a mart repeating a contract column states the same range. #}
{% test value_range(model, column_name, min_value, max_value=none) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} < {{ min_value }}{% if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
{% endtest %}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{# A model that lists what needs someone's attention (rows a department must correct): `dbt build`
   warns while it has rows (with `severity: warn`), each row being one thing to correct. #}
{% test is_empty(model) %}
select * from {{ model }}
{% endtest %}
