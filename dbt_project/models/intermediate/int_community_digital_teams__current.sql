{{ current_rows('stg_bronze__community_digital_teams', 'community_digital_teams',
                ['rows.unit_key', 'rows.hamlet_name', 'rows.year']) }}
