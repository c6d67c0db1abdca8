{% test percentage_range(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0 or {{ column_name }} > 100
{% endtest %}

{% test non_negative(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0
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
