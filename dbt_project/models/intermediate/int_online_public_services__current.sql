-- Current reported figures, one per unit and period.
{{ current_rows('stg_bronze__online_public_services', 'online_public_services', ['rows.unit_key', 'rows.period']) }}
