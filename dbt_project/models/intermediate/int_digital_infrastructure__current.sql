-- Rows of the current (not superseded) files, one per unit and year.
{{ current_rows('stg_bronze__digital_infrastructure', 'digital_infrastructure', ['rows.unit_key', 'rows.year']) }}
