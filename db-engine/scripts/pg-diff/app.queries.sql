INSERT INTO users (email, name) VALUES ('a@x.io', 'Ann2') ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, updated_at = now() RETURNING email, name, updated_at IS NOT NULL AS upd
INSERT INTO users (email, name) VALUES ('a@x.io', 'Ann3') ON CONFLICT (email) DO NOTHING RETURNING email
SELECT body->>'title' AS title, body->'tags' AS tags, body->'meta'->>'k' AS k FROM docs ORDER BY id
SELECT id FROM docs WHERE body @> '{"n":2}'
SELECT id FROM docs WHERE body ? 'meta'
SELECT jsonb_array_length(body->'tags') FROM docs ORDER BY id
SELECT id, (body->>'n')::int + 1 AS n1 FROM docs ORDER BY id
SELECT jsonb_set(body, '{n}', '5') FROM docs WHERE id = 1
SELECT body #>> '{meta,k}' FROM docs WHERE id = 2
UPDATE jobs SET locked_by = 'w1', attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE locked_by IS NULL AND queue = 'default' ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, queue, attempts
WITH next AS (SELECT id FROM jobs WHERE locked_by IS NULL ORDER BY run_at LIMIT 1) UPDATE jobs SET locked_by = 'w2' FROM next WHERE jobs.id = next.id RETURNING jobs.id
DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE queue = 'mail' LIMIT 1) RETURNING *
SELECT pg_advisory_lock(42)
SELECT pg_try_advisory_lock(43)
SELECT pg_advisory_unlock(42)
SELECT d::date FROM generate_series('2026-01-01'::date, '2026-01-03'::date, interval '1 day') AS d
SELECT to_char(created_at, 'YYYY-MM') AS ym, count(*) FROM users GROUP BY 1 ORDER BY 1
SELECT extract(epoch FROM created_at)::bigint FROM users ORDER BY email
SELECT now()::date = current_date
SELECT email FROM users u WHERE EXISTS (SELECT 1 FROM docs d WHERE d.owner = u.email) ORDER BY 1
SELECT DISTINCT ON (queue) queue, id FROM jobs ORDER BY queue, run_at
SELECT u.email, d.cnt FROM users u LEFT JOIN LATERAL (SELECT count(*) AS cnt FROM docs WHERE owner = u.email) d ON true ORDER BY 1
SELECT u.email, d.id FROM users u FULL OUTER JOIN docs d ON d.owner = u.email ORDER BY 1, 2
SELECT queue, count(*) FROM jobs GROUP BY ROLLUP (queue) ORDER BY 1
SELECT string_agg(email, ', ' ORDER BY email) FROM users
SELECT count(*) FROM users WHERE created_at > now() - interval '30 days'
SELECT count(*) FROM users WHERE created_at BETWEEN '2026-01-01' AND '2026-01-01 12:00'
SELECT email FROM users WHERE name ILIKE '%an%' ORDER BY 1
SELECT CURRENT_TIMESTAMP > '2020-01-01'
SELECT 'a' || 1 || true
SELECT concat('a', 1, NULL, 'b'), concat_ws('-', 'a', NULL, 'b')
SELECT coalesce(NULL, 0) + 1, nullif(1, 1) IS NULL
SELECT id FROM jobs ORDER BY id DESC LIMIT ALL
SELECT id FROM jobs ORDER BY id FETCH FIRST 1 ROWS ONLY
SELECT id FROM jobs ORDER BY id OFFSET 1 ROWS
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s) ORDER BY n
SELECT exists(SELECT 1 FROM users)
SELECT array_length(ARRAY[1,2,3], 1)
SELECT unnest(ARRAY[1,2])
SELECT split_part('a.b.c', '.', 2), initcap('hello world'), reverse('abc'), repeat('x', 3)
SELECT now() AT TIME ZONE 'UTC' IS NOT NULL
SELECT date '2026-02-28' + interval '1 day'
SELECT timestamp '2026-01-31 10:00' + interval '1 month'
SELECT (date '2026-03-01' - date '2026-02-01')
SELECT abs(-5.5), round(2.567, 2), trunc(2.567, 1), mod(7, 3), power(2, 3), sqrt(16)
SELECT CASE WHEN attempts > 0 THEN 'retried' ELSE 'fresh' END AS state, count(*) FROM jobs GROUP BY 1 ORDER BY 1
SELECT id, lag(id) OVER (ORDER BY id), lead(id) OVER (ORDER BY id), rank() OVER (ORDER BY queue) FROM jobs ORDER BY id
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY attempts) FROM jobs
SELECT bool_and(attempts >= 0), bool_or(attempts > 5) FROM jobs
SELECT md5(email) = md5(email) FROM users LIMIT 1
SELECT encode(sha256('abc'::bytea), 'hex')
SELECT 'abc' ~ '^a', 'abc' ~* '^A', 'abc' !~ 'z'
SELECT regexp_matches('a1b22', '[0-9]+', 'g')
SELECT left('hello', 2), right('hello', 2), btrim('xxhixx', 'x')
SELECT greatest(now(), '2020-01-01'::timestamptz) > '2021-01-01'
SELECT count(*) FROM jobs WHERE payload->>'x' = '1'
SELECT (payload->>'x')::numeric FROM jobs ORDER BY id LIMIT 1
SELECT to_jsonb(email) FROM users ORDER BY email LIMIT 1
SELECT jsonb_agg(jsonb_build_object('e', email)) FROM users
SELECT jsonb_object_keys(body) FROM docs WHERE id = 1 ORDER BY 1
SELECT * FROM jsonb_each_text('{"a":"1","b":"2"}') ORDER BY 1
SELECT * FROM jsonb_array_elements_text('["x","y"]')
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s) ORDER BY n
SELECT * FROM (VALUES (1, 'a', true)) v(n) 
SELECT v.n, w.m FROM (VALUES (1), (2)) v (n) JOIN (VALUES (2)) AS w("m") ON v.n = w.m
SELECT bool_and(attempts >= 0) AS all_ok, bool_or(attempts > 5) AS any_big, every(queue = 'default') FROM jobs
SELECT queue, bool_or(locked_by IS NOT NULL) FROM jobs GROUP BY queue ORDER BY queue
SELECT bool_and(attempts > 0) FILTER (WHERE queue = 'zzz') FROM jobs
SELECT id, bool_or(queue = 'mail') OVER (ORDER BY id) FROM jobs ORDER BY id
LISTEN jobs
NOTIFY jobs, 'hello'
SELECT pg_notify('jobs', 'x')
UNLISTEN *
SELECT row_to_json(t) FROM (SELECT 1 AS a, 'x' AS b) t
SELECT * FROM jsonb_array_elements('[1,2]')
SELECT current_setting('server_version_num')
SHOW server_version_num
SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'orders')
select * from information_schema.tables where table_name = 'orders' and table_schema = current_schema()
SELECT * FROM current_schema()
SELECT current_schema
SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'
SELECT typname, oid FROM pg_type WHERE typname IN ('hstore', 'citext')
select 1 from pg_catalog.pg_tables where schemaname = 'public' and tablename = 'orders'
SELECT conname FROM pg_constraint WHERE conrelid = 'orders'::regclass
SELECT now() AT TIME ZONE 'utc'
