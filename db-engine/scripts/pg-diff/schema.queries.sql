SELECT constraint_name, table_name, constraint_type FROM information_schema.table_constraints WHERE table_schema = 'public' AND table_name LIKE 's\_%' AND constraint_type <> 'CHECK' ORDER BY table_name, constraint_name
SELECT constraint_name, table_name, column_name, ordinal_position, position_in_unique_constraint FROM information_schema.key_column_usage WHERE table_schema = 'public' AND table_name LIKE 's\_%' ORDER BY table_name, constraint_name, ordinal_position
SELECT constraint_name, unique_constraint_name, update_rule, delete_rule FROM information_schema.referential_constraints WHERE constraint_schema = 'public' AND constraint_name LIKE 's\_%' ORDER BY constraint_name
SELECT table_name, column_name, constraint_name FROM information_schema.constraint_column_usage WHERE table_schema = 'public' AND constraint_name LIKE 's\_%' ORDER BY constraint_name, table_name, column_name
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename LIKE 's\_%' ORDER BY tablename, indexname
SELECT tablename, hasindexes, hastriggers FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 's\_%' ORDER BY tablename
SELECT viewname FROM pg_views WHERE schemaname = 'public' AND viewname LIKE 's\_%'
SELECT EXISTS (SELECT FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 's_users')
SELECT id FROM s_docs WHERE data @> '{"status":"active"}' ORDER BY id
SELECT id FROM s_docs WHERE data -> 'tags' ? 'a' ORDER BY id
SELECT id FROM s_docs WHERE data ?| '{z,owner}' ORDER BY id
SELECT id, data #> '{owner,teams}', data #>> '{owner,name}' FROM s_docs ORDER BY id
SELECT data || '{"x":1}' FROM s_docs WHERE id = 3
SELECT data - 'tags' FROM s_docs WHERE id = 3
SELECT data #- '{owner,teams}' FROM s_docs WHERE id = 1
SELECT '{"b":1,"a":2}'::jsonb || '{"c":[1,2]}'::jsonb
