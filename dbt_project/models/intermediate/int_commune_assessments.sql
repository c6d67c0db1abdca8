-- Every criterion or indicator a commune is assessed on, per year and set: what the department
-- reported (Đạt / Chưa đạt) beside what is computed from a measured value against the threshold
-- of the commune's group (met / not_met / no_data), and the status that counts: the computed one
-- where there is one, else the reported one. Nothing is overwritten; a disagreement is flagged.
-- A criterion that has indicators is computed from them (not met when one is not met, met when all
-- are), so a criterion reported "Đạt" whose computed indicator is not met disagrees.
-- A commune-year is assessed on a set when it has a reported result or a measured value for it;
-- it is then assessed on every leaf of the set's catalogue, so what is unknown shows as no_data.
-- Only the sets, criteria and indicators the lakehouse knows are assessed (int_criteria__unknown_reported
-- lists the others).
with

reported as (
    select unit_key, year, criteria_set, criterion_no, indicator_code, met, decision_no, decision_date,
           source_file, department
    from {{ ref('int_commune_criteria__current') }}
    where unit_level = 'commune'
),

measured as (
    select * from {{ ref('int_indicator_measurements') }}
    where split_part(unit_key, ':', 2) = 'commune'
),

sets as (
    select criteria_set from {{ ref('int_criteria_sets') }}
),

scope as (
    select distinct unit_key, year, criteria_set from reported
    union
    select distinct unit_key, year, criteria_set from measured
),

catalogue as (
    select criteria_set, criterion_no, indicator_code, is_leaf from {{ ref('int_criteria_catalogue__items') }}
),

leaves as (
    select criteria_set, criterion_no, indicator_code from catalogue
    where is_leaf
),

items as (
    select scope.unit_key, scope.year, scope.criteria_set, leaves.criterion_no, leaves.indicator_code
    from scope
    inner join leaves on leaves.criteria_set = scope.criteria_set
    union
    select given.unit_key, given.year, given.criteria_set, given.criterion_no, given.indicator_code
    from (
        select unit_key, year, criteria_set, criterion_no, indicator_code from reported
        union
        select unit_key, year, criteria_set, criterion_no, indicator_code from measured
    ) as given
    inner join catalogue
        on catalogue.criteria_set = given.criteria_set and catalogue.criterion_no = given.criterion_no
        and catalogue.indicator_code = given.indicator_code
),

groups as (
    select unit_key, criteria_set, commune_group, source_file from {{ ref('int_commune_groups__current') }}
),

thresholds as (
    select * from {{ ref('int_criteria_catalogue__thresholds') }}
),

group_thresholds as (
    select criteria_set, criterion_no, indicator_code, count(*) as groups_with_threshold
    from thresholds
    where commune_group <> ''
    group by all
),

joined as (
    select
        items.*,
        groups.commune_group,
        groups.source_file as group_source_file,
        coalesce(own.comparison, general.comparison) as comparison,
        coalesce(own.threshold, general.threshold) as threshold,
        coalesce(own.threshold_text, general.threshold_text) as threshold_text,
        coalesce(own.source, general.source) as threshold_source,
        coalesce(group_thresholds.groups_with_threshold, 0) > 0 as has_group_thresholds,
        measured.value as measured_value,
        measured.achieved as measured_achieved,
        -- the source of what the comparison reads: the yes/no result, else the figure
        case when coalesce(own.comparison, general.comparison) = 'yes_no' and measured.achieved is not null
             then measured.achieved_dataset else coalesce(measured.value_dataset, measured.source_dataset)
        end as measured_dataset,
        case when coalesce(own.comparison, general.comparison) = 'yes_no' and measured.achieved is not null
             then measured.achieved_file else coalesce(measured.value_file, measured.source_file)
        end as measured_file,
        reported.met as reported_met,
        reported.decision_no,
        reported.decision_date,
        reported.source_file as reported_file,
        coalesce(reported.department, measured.department) as department
    from items
    inner join sets on sets.criteria_set = items.criteria_set
    left join groups on groups.unit_key = items.unit_key and groups.criteria_set = items.criteria_set
    left join thresholds as own
        on own.criteria_set = items.criteria_set and own.criterion_no = items.criterion_no
        and own.indicator_code = items.indicator_code and own.commune_group = groups.commune_group
    left join thresholds as general
        on general.criteria_set = items.criteria_set and general.criterion_no = items.criterion_no
        and general.indicator_code = items.indicator_code and general.commune_group = ''
    left join group_thresholds
        on group_thresholds.criteria_set = items.criteria_set and group_thresholds.criterion_no = items.criterion_no
        and group_thresholds.indicator_code = items.indicator_code
    left join measured
        on measured.unit_key = items.unit_key and measured.year = items.year
        and measured.criteria_set = items.criteria_set and measured.criterion_no = items.criterion_no
        and measured.indicator_code = items.indicator_code
    left join reported
        on reported.unit_key = items.unit_key and reported.year = items.year
        and reported.criteria_set = items.criteria_set and reported.criterion_no = items.criterion_no
        and reported.indicator_code = items.indicator_code
),

computed as (
    select
        *,
        case
            when measured_value is null and measured_achieved is null then 'no_value'
            when comparison is null and has_group_thresholds and commune_group is null then 'no_group'
            when comparison is null then 'no_threshold'
            when comparison <> 'yes_no' and measured_value is null then 'no_value'
            else 'measured'
        end as computed_reason,
        case
            when comparison = 'yes_no' then coalesce(measured_achieved, measured_value >= 1)
            when comparison = 'at_least' then measured_value >= threshold
            when comparison = 'at_most' then measured_value <= threshold
            when comparison = 'equal' then measured_value = threshold
        end as computed_met
    from joined
),

own_status as (
    select
        {{ star_except(['computed_met', 'computed_reason']) }},
        case when computed_reason <> 'measured' then 'no_data'
             when computed_met then 'met' else 'not_met' end as own_computed_status,
        computed_reason as own_computed_reason,
        case when reported_met then 'met' when not reported_met then 'not_met' else 'no_data' end
            as reported_status
    from computed
),

-- A criterion's status computed from its indicators: not met when one is, met when every one is.
from_indicators as (
    select
        unit_key, year, criteria_set, criterion_no,
        case when bool_or(own_computed_status = 'not_met') then 'not_met'
             when bool_and(own_computed_status = 'met') then 'met' end as indicators_status
    from own_status
    where indicator_code <> ''
    group by all
),

final as (
    select
        own_status.*,
        case when own_status.indicator_code = '' and from_indicators.indicators_status is not null
             then from_indicators.indicators_status else own_status.own_computed_status end as computed_status,
        case when own_status.indicator_code = '' and from_indicators.indicators_status is not null
             then 'indicators' else own_status.own_computed_reason end as computed_reason
    from own_status
    left join from_indicators
        on from_indicators.unit_key = own_status.unit_key and from_indicators.year = own_status.year
        and from_indicators.criteria_set = own_status.criteria_set
        and from_indicators.criterion_no = own_status.criterion_no
)

select
    {{ star_except(['own_computed_status', 'own_computed_reason']) }},
    case when computed_status <> 'no_data' then computed_status else reported_status end as status,
    case when computed_status <> 'no_data' then 'computed'
         when reported_status <> 'no_data' then 'reported' end as status_from,
    computed_status <> 'no_data' and reported_status <> 'no_data' and computed_status <> reported_status
        as disagrees
from final
