-- The thresholds of the reference files, one row per criterion or indicator and commune group:
-- groups 1/2/3 (2026-2030), the 7 regions (2021-2025), or '' for the general threshold that applies
-- to every commune without one of its own. The text is kept; the comparison and number are read
-- from it where it is one of "Đạt", "≥ n", "≤ n", "n" or "n%", and stay empty otherwise.
{% set columns = {'threshold_general': '', 'threshold_group1': '1', 'threshold_group2': '2',
                  'threshold_group3': '3', 'threshold_tdmnpb': 'TDMNPB', 'threshold_dbsh': 'DBSH',
                  'threshold_btb': 'BTB', 'threshold_dhntb': 'DHNTB', 'threshold_tn': 'TN',
                  'threshold_dnb': 'DNB', 'threshold_dbscl': 'DBSCL'} %}
with

criteria as (
    select * from {{ ref('criteria') }}
),

long as (
    {% for column, group in columns.items() %}
    select set_id, criterion_no, coalesce(indicator_code, '') as indicator_code, '{{ group }}' as commune_group,
           trim({{ column }}) as threshold_text
    from criteria
    where nullif(trim({{ column }}), '') is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{% set threshold_pattern %}^(≥|≤)?\s*([0-9]+(?:[.,][0-9]+)?)\s*(%|sao)?\s*(.*)${% endset %}
parsed as (
    select
        {% for part in ['sign', 'number', 'unit', 'rest'] %}
        regexp_extract(threshold_text, {{ regex_literal(threshold_pattern) }}, {{ loop.index }})
            as threshold_{{ part }},
        {% endfor %}
        *
    from long
),

renamed as (
    select
        set_id as criteria_set,
        criterion_no,
        indicator_code,
        commune_group,
        threshold_text,
        case when threshold_text = 'Đạt' then 'yes_no'
             when threshold_number = '' then null
             when threshold_sign = '≥' then 'at_least'
             when threshold_sign = '≤' then 'at_most'
             when threshold_rest = '' then 'equal'
             -- "≥10% cao hơn", "≥90% (từng xã ...: ≥80%)": the number leads, words qualify it
             else 'at_least' end as comparison,
        try_cast(replace(nullif(threshold_number, ''), ',', '.') as double) as threshold
    from parsed
)

select * from renamed
