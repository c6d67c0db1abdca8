-- Every criteria set: those of the reference files, and those a catalogue file brings. A catalogue
-- file's decision, in-force date and tier fill or correct the reference's; a set only a catalogue
-- knows counts its criteria from the catalogue.
with

reference as (
    select * from {{ ref('stg_reference__criteria_sets') }}
),

catalogue as (
    select
        criteria_set,
        max(decision_no) as decision_no,
        min(in_force_from) as in_force_from,
        max(tier) as tier,
        count(distinct criterion_no) as criteria_listed,
        count(distinct indicator_code) filter (where indicator_code <> '') as indicators_listed,
        {{ string_agg_ordered('source_file', ', ', 'source_file', distinct=true) }} as source_files
    from {{ ref('int_criteria_catalogue__current') }}
    group by all
),

tiers as (
    select * from {{ ref('criteria_tiers') }}
),

joined as (
    select
        coalesce(reference.criteria_set, catalogue.criteria_set) as criteria_set,
        coalesce(catalogue.decision_no, reference.decision_no) as decision_no,
        reference.decision_date,
        coalesce(catalogue.in_force_from, reference.in_force_from, reference.decision_date) as in_force_from,
        coalesce(reference.level, 'commune') as level,
        coalesce(catalogue.tier, reference.tier) as tier,
        reference.period_from_year,
        reference.period_to_year,
        coalesce(reference.criteria_total, catalogue.criteria_listed) as criteria_total,
        coalesce(reference.indicator_total, catalogue.indicators_listed) as indicator_total,
        coalesce(reference.title_vi, catalogue.criteria_set) as title_vi,
        coalesce(reference.title_en, reference.title_vi, catalogue.criteria_set) as title_en,
        reference.completeness,
        case when catalogue.criteria_set is null then 'reference: criteria_sets.csv'
             when reference.criteria_set is null then 'criteria_catalogue: ' || catalogue.source_files
             else 'reference: criteria_sets.csv; criteria_catalogue: ' || catalogue.source_files end as source
    from reference
    full outer join catalogue on catalogue.criteria_set = reference.criteria_set
)

select joined.*, tiers.tier_code
from joined
left join tiers on tiers.level = joined.level and tiers.tier = joined.tier
