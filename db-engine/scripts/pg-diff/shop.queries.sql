SELECT date_trunc('day', placed_at) AS d, count(*) FROM orders GROUP BY 1 ORDER BY 1
SELECT date_trunc('month', created_at) AS m, count(*) FROM customers GROUP BY 1 ORDER BY 1
SELECT created_at::text FROM customers ORDER BY id
SELECT created_at FROM customers ORDER BY id
SELECT placed_at FROM orders ORDER BY id
SELECT sum(amount), avg(amount), min(amount), max(amount) FROM orders
SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id ORDER BY total DESC
SELECT c.name, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name
SELECT id, name FROM customers WHERE email IS NULL
SELECT id FROM customers WHERE name ILIKE 'a%'
SELECT extract(year FROM placed_at) AS y, extract(month FROM placed_at) AS mo FROM orders ORDER BY id
SELECT to_char(placed_at, 'YYYY-MM-DD HH24:MI') FROM orders ORDER BY id
SELECT now() - interval '1 day' > now()
SELECT count(*) FILTER (WHERE status = 'paid') AS paid, count(*) AS total FROM orders
SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > 1
SELECT coalesce(email, 'none') FROM customers ORDER BY id
SELECT name || ' <' || coalesce(email,'') || '>' FROM customers ORDER BY id
SELECT amount * 2, amount / 3, round(amount, 1) FROM orders ORDER BY id
SELECT id, row_number() OVER (ORDER BY amount DESC) FROM orders ORDER BY id
SELECT id, sum(amount) OVER (PARTITION BY customer_id ORDER BY id) FROM orders ORDER BY id
SELECT string_agg(name, ',' ORDER BY name) FROM customers
SELECT array_agg(id ORDER BY id) FROM customers
SELECT json_agg(name) FROM customers
SELECT json_build_object('id', id, 'name', name) FROM customers ORDER BY id
SELECT row_to_json(c) FROM customers c WHERE id = 1
SELECT active, score FROM customers ORDER BY id
SELECT NOT active FROM customers ORDER BY id
SELECT CASE WHEN amount > 50 THEN 'big' ELSE 'small' END FROM orders ORDER BY id
SELECT * FROM orders WHERE placed_at BETWEEN '2026-03-01' AND '2026-03-31' ORDER BY id
SELECT * FROM orders WHERE placed_at >= now() - interval '10 years' ORDER BY id
SELECT id FROM orders WHERE status IN ('paid', 'new') ORDER BY id
SELECT id FROM orders WHERE status = ANY(ARRAY['paid','new']) ORDER BY id
SELECT DISTINCT status FROM orders ORDER BY status
SELECT count(DISTINCT customer_id) FROM orders
SELECT id, amount FROM orders ORDER BY amount DESC LIMIT 2 OFFSET 1
SELECT upper(name), lower(name), length(name), substring(name from 1 for 2) FROM customers ORDER BY id
SELECT position('@' in email), split_part(email, '@', 2) FROM customers WHERE email IS NOT NULL ORDER BY id
SELECT CAST(amount AS integer), amount::int, amount::text, amount::float8 FROM orders ORDER BY id
SELECT 1::bigint + 2, 7 / 2, 7 % 3, 7.0 / 2, 2 ^ 10
SELECT current_date = current_date, pg_typeof(now()), pg_typeof(current_date)
SELECT greatest(1, 5, 3), least(1, 5, 3), abs(-4), ceil(4.2), floor(4.8)
SELECT nullif(status, 'new') FROM orders ORDER BY id
SELECT EXISTS (SELECT 1 FROM orders WHERE amount > 50)
SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE status = 'paid') ORDER BY id
WITH t AS (SELECT customer_id, sum(amount) s FROM orders GROUP BY 1) SELECT c.name, t.s FROM t JOIN customers c ON c.id = t.customer_id ORDER BY c.name
SELECT placed_at::date, count(*) FROM orders GROUP BY 1 ORDER BY 1
SELECT age(timestamp '2026-03-02', timestamp '2026-01-01')
SELECT placed_at + interval '1 hour' FROM orders ORDER BY id
SELECT date_part('dow', placed_at) FROM orders ORDER BY id
SELECT generate_series(1, 3)
SELECT * FROM generate_series(1, 3) AS g(n)
SELECT gen_random_uuid() IS NOT NULL
SELECT md5('abc')
SELECT to_timestamp(0)
SELECT '2026-03-01'::date + 1
SELECT interval '90 minutes'
SELECT version() LIKE 'PostgreSQL%'
SELECT lpad('7', 3, '0'), rpad('a', 3, '-'), trim('  x  '), replace('abc', 'b', 'B')
SELECT regexp_replace('a1b2', '[0-9]', '', 'g')
SELECT id FROM customers ORDER BY score DESC NULLS LAST
SELECT id FROM customers ORDER BY score NULLS FIRST
SELECT score::text FROM customers ORDER BY id
SELECT 0.1 + 0.2, 1e3, 1.50
UPDATE orders SET note = 'x' WHERE id = 1 RETURNING id, note
INSERT INTO customers (name) VALUES ('Dee') RETURNING id, active, created_at IS NOT NULL
DELETE FROM customers WHERE name = 'Dee' RETURNING name
SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'
SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position
SELECT d::date FROM generate_series('2026-01-01'::date, '2026-01-03'::date, interval '1 day') AS d
SELECT d::date AS day FROM generate_series('2026-01-31'::date, '2026-05-01'::date, '1 month'::interval) AS d
SELECT count(*) FROM generate_series(timestamp '2026-01-01 00:00', timestamp '2026-01-01 12:00', '1 hour')
SELECT t::timestamp FROM generate_series('2026-01-01 10:00'::timestamp, '2026-01-01 09:00'::timestamp, interval '-20 minutes') t
SELECT count(*) FROM generate_series('2026-01-02'::date, '2026-01-01'::date, interval '1 day')
SELECT d::date, count(o.id) FROM generate_series('2026-03-01'::date, '2026-03-03'::date, interval '1 day') AS d LEFT JOIN orders o ON o.placed_at::date = d::date GROUP BY 1 ORDER BY 1
SELECT * FROM generate_series('2026-01-01'::date, '2026-01-02'::date, interval '0 days')
