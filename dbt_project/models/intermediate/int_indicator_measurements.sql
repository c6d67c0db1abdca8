-- Every measured value an assessment can use, one per commune, year, set, criterion and indicator:
-- the indicator_values files first, then the lakehouse columns the catalogue maps an indicator to
-- (`measured_by`, e.g. digital_infrastructure.fixed_broadband_household_pct), in the years the set
-- is in force (any set, named by its id or by its tier code). A blank or "no data" cell (`-`, blank: no value) is not a measurement: it never hides
-- the lakehouse's value for the same indicator. The figure and the yes/no result are each taken from
-- the first source that gives it, with that source: a reported figure, when there is one, wins.
with

reported_values as (
    select
        unit_key, year, criteria_set, criterion_no, indicator_code, value, achieved,
        'indicator_values' as source_dataset, source_file, department, 1 as priority
    from {{ ref('int_indicator_values__current') }}
    where value is not null or achieved is not null
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
    -- every set in force in the measure's year, whether or not it is the one its tier code names
    inner join {{ ref('int_criteria_sets') }} as sets
        on sets.criteria_set = items.criteria_set
        and measures.year >= year(sets.in_force_from)
        and measures.year <= coalesce(sets.period_to_year, measures.year)
),

candidates as (
    {{ union_all_by_name(['reported_values', 'mapped_values'], ['unit_key', 'year', 'criteria_set', 'criterion_no',
        'indicator_code', 'value', 'achieved', 'source_dataset', 'source_file', 'department', 'priority']) }}
),

figures as (
    select unit_key, year, criteria_set, criterion_no, indicator_code, value,
           source_dataset as value_dataset, source_file as value_file, department as value_department
    from candidates
    where value is not null
    qualify row_number() over (
        partition by unit_key, year, criteria_set, criterion_no, indicator_code order by priority, source_file
    ) = 1
),

results as (
    select unit_key, year, criteria_set, criterion_no, indicator_code, achieved,
           source_dataset as achieved_dataset, source_file as achieved_file, department as achieved_department
    from candidates
    where achieved is not null
    qualify row_number() over (
        partition by unit_key, year, criteria_set, criterion_no, indicator_code order by priority, source_file
    ) = 1
),

final as (
    select
        coalesce(figures.unit_key, results.unit_key) as unit_key,
        coalesce(figures.year, results.year) as year,
        coalesce(figures.criteria_set, results.criteria_set) as criteria_set,
        coalesce(figures.criterion_no, results.criterion_no) as criterion_no,
        coalesce(figures.indicator_code, results.indicator_code) as indicator_code,
        figures.value,
        results.achieved,
        figures.value_dataset,
        figures.value_file,
        results.achieved_dataset,
        results.achieved_file,
        -- the source of the figure where there is one, else of the result
        coalesce(figures.value_dataset, results.achieved_dataset) as source_dataset,
        coalesce(figures.value_file, results.achieved_file) as source_file,
        coalesce(figures.value_department, results.achieved_department) as department
    from figures
    full outer join results
        on results.unit_key = figures.unit_key and results.year = figures.year
        and results.criteria_set = figures.criteria_set and results.criterion_no = figures.criterion_no
        and results.indicator_code = figures.indicator_code
)

select * from final
