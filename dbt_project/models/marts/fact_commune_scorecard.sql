-- One row per commune, year and criteria set: where the commune stands. A criterion is met when
-- every one of its indicators is (or, where none of them is known, when its own result is); the
-- commune meets the set's standard when it meets every criterion of the set (the set's size comes
-- from the reference, not from the criteria listed), does not when one criterion is not met, and
-- is unknown otherwise. It is recognised at the set's level when a decision is recorded and no
-- criterion is known to be unmet. Every reported result that the computed one contradicts (an
-- indicator, or a criterion whose computed indicators say otherwise) is counted and listed. The unit
-- is given in the list of its time and on today's map, so a commune of today's map finds its
-- predecessors' rows by current_unit_key.
with

assessments as (
    select * from {{ ref('int_commune_assessments') }}
),

sets as (
    select * from {{ ref('int_criteria_sets') }}
),

per_criterion as (
    select
        unit_key, year, criteria_set, criterion_no,
        count(*) filter (where indicator_code <> '') as indicators,
        bool_or(status = 'not_met') filter (where indicator_code <> '') as an_indicator_not_met,
        bool_and(status = 'met') filter (where indicator_code <> '') as every_indicator_met,
        any_value(status) filter (where indicator_code = '') as criterion_status
    from assessments
    group by all
),

criterion_status as (
    select
        *,
        case when an_indicator_not_met then 'not_met'
             when every_indicator_met then 'met'
             when criterion_status in ('met', 'not_met') then criterion_status
             else 'no_data' end as status
    from per_criterion
),

per_commune as (
    select
        unit_key, year, criteria_set,
        count(*) filter (where status = 'met') as criteria_met,
        count(*) filter (where status = 'not_met') as criteria_not_met,
        {{ string_agg_ordered('criterion_no', ', ', 'try_cast(criterion_no as integer) nulls last, criterion_no') }}
            filter (where status = 'not_met') as unmet_criteria
    from criterion_status
    group by all
),

per_commune_items as (
    select
        unit_key, year, criteria_set,
        any_value(commune_group) as commune_group,
        max(decision_no) as decision_no,
        max(decision_date) as decision_date,
        count(*) filter (where disagrees) as disagreements,
        {{ string_agg_ordered(
            "case when indicator_code = '' then criterion_no else indicator_code end
             || ': reported ' || reported_status || ', computed ' || computed_status", '; ',
            "try_cast(criterion_no as integer) nulls last, criterion_no, indicator_code") }}
            filter (where disagrees) as disagreement_list,
        {{ string_agg_ordered('indicator_code', ', ', "try_cast(split_part(indicator_code, '.', 1) as integer),
                                 try_cast(split_part(indicator_code, '.', 2) as integer), indicator_code") }}
            filter (where status = 'not_met' and indicator_code <> '') as unmet_indicators
    from assessments
    group by all
),

provenance as (
    select unit_key, year, criteria_set, {{ string_agg_ordered('source', '; ', 'source', distinct=true) }} as sources
    from (
        select unit_key, year, criteria_set, 'commune_criteria: ' || reported_file as source from assessments
        union all
        select unit_key, year, criteria_set, measured_dataset || ': ' || measured_file from assessments
        union all
        select unit_key, year, criteria_set, 'commune_groups: ' || group_source_file from assessments
        union all
        select unit_key, year, criteria_set, threshold_source from assessments
    )
    where source is not null
    group by all
),

surveys as (
    select unit_key, cast(left(period, 4) as integer) as survey_year, period, satisfied_pct
    from {{ ref('fact_satisfaction_surveys') }}
    where satisfied_pct is not null
),

latest_survey as (
    select per_commune.unit_key, per_commune.year,
           max_by(surveys.satisfied_pct, surveys.period) as satisfied_pct, max(surveys.period) as period
    from (select distinct unit_key, year from per_commune) as per_commune
    inner join surveys on surveys.unit_key = per_commune.unit_key and surveys.survey_year <= per_commune.year
    group by all
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

current_names as (
    select unit_key, unit_name from {{ ref('dim_admin_unit') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(current_names.unit_name as string) as current_unit_name,
        cast(per_commune.year as integer) as year,
        cast(per_commune.criteria_set as string) as criteria_set,
        cast(sets.title_vi as string) as criteria_set_title_vi,
        cast(sets.decision_no as string) as criteria_set_decision,
        cast(items.commune_group as string) as commune_group,
        cast(sets.criteria_total as bigint) as criteria_total,
        cast(per_commune.criteria_met as bigint) as criteria_met,
        cast(per_commune.criteria_not_met as bigint) as criteria_not_met,
        cast(sets.criteria_total - per_commune.criteria_met - per_commune.criteria_not_met as bigint)
            as criteria_no_data,
        cast(per_commune.unmet_criteria as string) as unmet_criteria,
        cast(items.unmet_indicators as string) as unmet_indicators,
        cast(case when per_commune.criteria_not_met > 0 then false
                  when per_commune.criteria_met >= sets.criteria_total then true end as boolean) as meets_standard,
        cast(case when items.decision_no is not null and per_commune.criteria_not_met = 0
                  then coalesce(sets.tier_code, sets.criteria_set) else 'none' end as string) as recognised_level,
        cast(items.decision_no as string) as decision_no,
        cast(items.decision_date as date) as decision_date,
        cast(items.disagreements as bigint) as disagreements,
        cast(items.disagreement_list as string) as disagreement_list,
        cast(latest_survey.satisfied_pct as double) as satisfied_pct,
        cast(latest_survey.period as string) as satisfaction_period,
        cast(sets.completeness as string) as criteria_set_completeness,
        cast(provenance.sources as string) as sources
    from per_commune
    inner join per_commune_items as items using (unit_key, year, criteria_set)
    inner join sets on sets.criteria_set = per_commune.criteria_set
    left join provenance using (unit_key, year, criteria_set)
    left join latest_survey using (unit_key, year)
    left join units on units.unit_key = per_commune.unit_key
    left join current_names on current_names.unit_key = units.current_unit_key
)

select * from final
order by unit_key, year, criteria_set
