-- Every measured value an assessment can use, one per commune, year, set, criterion and indicator:
-- the indicator_values files first, then the lakehouse columns the catalogue maps an indicator to
-- (`measured_by`, e.g. digital_infrastructure.fixed_broadband_household_pct), in the years the set
-- is in force.
with

reported_values as (
    select
        unit_key, year, criteria_set, criterion_no, indicator_code, value, achieved,
        'indicator_values' as source_dataset, source_file, department, 1 as priority
    from {{ ref('int_indicator_values__current') }}
),

lakehouse_measures as (
    {{ measure_rows('int_digital_infrastructure__current', 'digital_infrastructure') }}
),

mapped_values as (
    select
        measures.unit_key, measures.year, items.criteria_set, items.criterion_no, items.indicator_code,
        measures.value, cast(null as boolean) as achieved,
        measures.source_dataset, measures.source_file, measures.department, 2 as priority
    from {{ ref('int_criteria_catalogue__items') }} as items
    inner join lakehouse_measures as measures on measures.measure = items.measured_by
    inner join {{ ref('int_criteria_sets__by_year') }} as in_force
        on in_force.criteria_set = items.criteria_set and in_force.year = measures.year
),

final as (
    select {{ star_except(['priority']) }}
    from ({{ union_all_by_name(['reported_values', 'mapped_values'], ['unit_key', 'year', 'criteria_set', 'criterion_no',
             'indicator_code', 'value', 'achieved', 'source_dataset', 'source_file', 'department', 'priority']) }})
    qualify row_number() over (
        partition by unit_key, year, criteria_set, criterion_no, indicator_code order by priority, source_file
    ) = 1
)

select * from final
