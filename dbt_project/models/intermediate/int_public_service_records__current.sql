-- Current applications, one per application id (a re-sent month replaces the earlier file).
{{ current_rows('stg_bronze__public_service_records', 'public_service_records', ['rows.record_id']) }}
