-- Every criterion and indicator of every set, from the reference files and the catalogue files (a
-- catalogue row fills or corrects the reference's, key by key). `is_leaf` marks what is assessed:
-- each indicator, and a criterion as a whole where no indicator of it is known.
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
    from joined
)

select * from final
