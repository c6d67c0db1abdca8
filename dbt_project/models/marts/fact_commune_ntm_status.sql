-- A criterion is met when every row about it (the criterion and each of its indicators) is met;
-- a commune meets the set when it meets every criterion of the set, and is recognised when a
-- decision is recorded too. The number of criteria in a set comes from the seed criteria_sets,
-- not from the criteria listed: for a set whose size the sources do not give (the advanced set
-- lists only criteria 8 and 15), "meets all criteria" is unknown and recognition rests on the
-- decision alone.
with

assessments as (
    select * from {{ ref('fact_commune_criteria') }}
),

criteria_in_set as (
    select criteria_set, criteria_total
    from {{ ref('criteria_sets') }}
),

per_criterion as (
    select unit_key, year, criteria_set, criterion_no, bool_and(met) as criterion_met,
           max(decision_no) as decision_no
    from assessments
    group by all
),

per_commune as (
    select
        unit_key,
        year,
        criteria_set,
        count(*) as criteria_assessed,
        count(*) filter (where criterion_met) as criteria_met,
        max(decision_no) as decision_no
    from per_criterion
    group by all
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(per_commune.year as integer) as year,
        cast(per_commune.criteria_set as varchar) as criteria_set,
        cast(per_commune.criteria_assessed as bigint) as criteria_assessed,
        cast(per_commune.criteria_met as bigint) as criteria_met,
        cast(criteria_in_set.criteria_total as bigint) as criteria_total,
        cast(per_commune.criteria_met = criteria_in_set.criteria_total as boolean) as meets_all_criteria,
        cast(case when per_commune.decision_no is not null
                       and coalesce(per_commune.criteria_met = criteria_in_set.criteria_total, true)
                  then per_commune.criteria_set
                  else 'none' end as varchar) as recognised_level
    from per_commune
    left join criteria_in_set using (criteria_set)
    left join units on units.unit_key = per_commune.unit_key
)

select * from final
order by unit_key, year, criteria_set
