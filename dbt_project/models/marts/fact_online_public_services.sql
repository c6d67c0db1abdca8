-- Two sources side by side: figures the department reports per unit and period, and figures
-- computed from one-stop office applications per unit, month and level (counts below the
-- small-cell threshold are suppressed: they come from personal records).
with

reported as (
    select
        unit_key,
        period,
        'all' as level,
        'reported' as source,
        procedures_total,
        full_online_procedures,
        coalesce(full_online_pct, round(100.0 * full_online_procedures / nullif(procedures_total, 0), 1))
            as full_online_pct,
        partial_online_procedures,
        coalesce(partial_online_pct, round(100.0 * partial_online_procedures / nullif(procedures_total, 0), 1))
            as partial_online_pct,
        records_received as applications_received,
        records_online as applications_online,
        cast(null as bigint) as applications_resolved_on_time,
        digitised_pct,
        paid_online_pct,
        false as suppressed
    from {{ ref('int_online_public_services__current') }}
),

from_records as (
    select
        unit_key,
        period,
        level,
        'records' as source,
        null as procedures_total,
        null as full_online_procedures,
        null as full_online_pct,
        null as partial_online_procedures,
        null as partial_online_pct,
        {{ suppress_small('applications_received') }} as applications_received,
        {{ suppress_small('applications_online') }} as applications_online,
        {{ suppress_small('applications_resolved_on_time') }} as applications_resolved_on_time,
        null as digitised_pct,
        null as paid_online_pct,
        applications_received < {{ var('small_cell_threshold', 5) }}
            or applications_online < {{ var('small_cell_threshold', 5) }}
            or applications_resolved_on_time < {{ var('small_cell_threshold', 5) }} as suppressed
    from {{ ref('int_public_service_records__monthly') }}
),

combined as (
    {{ union_all_by_name(['reported', 'from_records'], ['unit_key', 'period', 'level', 'source', 'procedures_total',
                         'full_online_procedures', 'full_online_pct', 'partial_online_procedures', 'partial_online_pct',
                         'applications_received', 'applications_online', 'applications_resolved_on_time',
                         'digitised_pct', 'paid_online_pct', 'suppressed']) }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(combined.period as string) as period,
        cast(combined.level as string) as level,
        cast(combined.source as string) as source,
        cast(procedures_total as bigint) as procedures_total,
        cast(full_online_procedures as bigint) as full_online_procedures,
        cast(full_online_pct as double) as full_online_pct,
        cast(partial_online_procedures as bigint) as partial_online_procedures,
        cast(partial_online_pct as double) as partial_online_pct,
        cast(applications_received as bigint) as applications_received,
        cast(applications_online as bigint) as applications_online,
        cast(round(100.0 * applications_online / nullif(applications_received, 0), 1) as double)
            as applications_online_pct,
        cast(applications_resolved_on_time as bigint) as applications_resolved_on_time,
        cast(digitised_pct as double) as digitised_pct,
        cast(paid_online_pct as double) as paid_online_pct,
        cast(suppressed as boolean) as suppressed
    from combined
    left join units on units.unit_key = combined.unit_key
)

select * from final
order by unit_key, period, level, source
