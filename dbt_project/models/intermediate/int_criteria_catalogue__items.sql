-- Every criterion and indicator of every set, from the reference files and the catalogue files (a
-- catalogue row fills or corrects the reference's, key by key). `is_leaf` marks what is assessed:
-- each indicator, and a criterion as a whole where no indicator of it is known. A set that neither
-- lists any criterion (known by its title only: the modern-commune set of 51/2025) has the criteria
-- and indicators that departments report or measure against it, named by nobody (source `reported`);
-- a set that lists its criteria keeps its list (what it lacks is int_criteria__unknown_reported's).
-- A criterion listed by its indicators only has its own row (not a leaf), to be reported as a whole.
with

reference as (
    select * from {{ ref('stg_reference__criteria') }}
),

catalogue as (
    select
        criteria_set,
        criterion_no,
        indicator_code,
        max(criterion_name) as criterion_name,
        max(indicator_name) as indicator_name,
        max(unit) as unit,
        max(measured_by) as measured_by,
        {{ string_agg_ordered('source_file', ', ', 'source_file', distinct=true) }} as source_files
    from {{ ref('int_criteria_catalogue__current') }}
    group by all
),

joined as (
    select
        coalesce(catalogue.criteria_set, reference.criteria_set) as criteria_set,
        coalesce(catalogue.criterion_no, reference.criterion_no) as criterion_no,
        coalesce(catalogue.indicator_code, reference.indicator_code) as indicator_code,
        coalesce(catalogue.criterion_name, reference.criterion_name_vi) as criterion_name_vi,
        coalesce(catalogue.indicator_name, reference.indicator_name_vi) as indicator_name_vi,
        reference.name_en,
        reference.measure_vi,
        coalesce(catalogue.unit, reference.unit) as unit,
        catalogue.measured_by,
        case when catalogue.criteria_set is null then 'reference: criteria.csv'
             else 'criteria_catalogue: ' || catalogue.source_files end as source
    from reference
    full outer join catalogue
        on catalogue.criteria_set = reference.criteria_set
        and catalogue.criterion_no = reference.criterion_no
        and catalogue.indicator_code = reference.indicator_code
),

reported as (
    select criteria_set, criterion_no, coalesce(indicator_code, '') as indicator_code,
           'commune_criteria: ' || source_file as source
    from {{ ref('int_commune_criteria__current') }}
    where criteria_set_known
    union all
    select criteria_set, criterion_no, indicator_code, 'indicator_values: ' || source_file
    from {{ ref('int_indicator_values__current') }}
    where criteria_set_known
),

reported_items as (
    select
        criteria_set,
        criterion_no,
        indicator_code,
        cast(null as string) as criterion_name_vi,
        cast(null as string) as indicator_name_vi,
        cast(null as string) as name_en,
        cast(null as string) as measure_vi,
        cast(null as string) as unit,
        cast(null as string) as measured_by,
        'reported: ' || {{ string_agg_ordered('source', ', ', 'source', distinct=true) }} as source
    from reported
    where criteria_set not in (select criteria_set from joined)
    group by all
),

named as (
    select * from joined
    union all
    select * from reported_items
),

-- a criterion listed only by its indicators is a criterion of the set too (reported as a whole)
implied_criteria as (
    select
        criteria_set,
        criterion_no,
        '' as indicator_code,
        max(criterion_name_vi) as criterion_name_vi,
        cast(null as string) as indicator_name_vi,
        cast(null as string) as name_en,
        cast(null as string) as measure_vi,
        cast(null as string) as unit,
        cast(null as string) as measured_by,
        min(source) as source
    from named
    group by criteria_set, criterion_no
    having count(*) filter (where indicator_code = '') = 0
),

listed as (
    select * from named
    union all
    select * from implied_criteria
),

final as (
    select
        criteria_set,
        criterion_no,
        indicator_code,
        -- an indicator row names its criterion too, from the criterion's own row if it does not
        coalesce(criterion_name_vi, max(criterion_name_vi) over (partition by criteria_set, criterion_no))
            as criterion_name_vi,
        indicator_name_vi,
        name_en,
        measure_vi,
        unit,
        measured_by,
        source,
        indicator_code <> ''
            or count(*) filter (where indicator_code <> '') over (partition by criteria_set, criterion_no) = 0
            as is_leaf
    from listed
)

select * from final
