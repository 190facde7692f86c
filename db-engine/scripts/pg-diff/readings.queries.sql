SELECT max(at), min(at), max(seen), min(seen) FROM readings
SELECT sensor, max(at) AS last, min(price), max(id), count(*) FROM readings GROUP BY sensor ORDER BY sensor
SELECT max(at) FILTER (WHERE sensor = 'a') AS last_a, max(DISTINCT price) FROM readings
SELECT id, max(price) OVER (PARTITION BY sensor) AS top, min(seen) OVER (ORDER BY id) AS first_seen FROM readings ORDER BY id
SELECT id, price, qty, ratio FROM readings ORDER BY id
SELECT date_trunc('second', at), date_trunc('minute', at), date_trunc('hour', at), date_trunc('day', at) FROM readings ORDER BY id
SELECT date_trunc('week', seen), date_trunc('month', seen), date_trunc('year', seen), date_trunc('hour', seen) FROM readings ORDER BY id
SELECT date_trunc('day', at) AS day, count(*), max(price) FROM readings GROUP BY 1 ORDER BY 1
SELECT sensor FROM readings GROUP BY sensor HAVING max(at) > '2026-04-01' ORDER BY 1
SELECT (SELECT max(at) FROM readings) AS newest
SELECT max(at) AS newest FROM readings WHERE sensor = 'z'
SELECT bool_and(price > 0) AS all_priced, bool_or(qty > 10) AS any_big, every(sensor = 'a') FROM readings
SELECT sensor, bool_or(seen IS NULL) FROM readings GROUP BY sensor ORDER BY sensor
SELECT bool_and(qty > 5), bool_and(qty > 0) FILTER (WHERE sensor = 'z') FROM readings
SELECT id, bool_or(qty > 10) OVER (ORDER BY id) FROM readings ORDER BY id
SELECT sum(price), sum(id), sum(qty), sum(ratio) FROM readings
SELECT sensor, sum(price) AS total, count(*) FROM readings GROUP BY sensor ORDER BY sensor
WITH t AS (SELECT sensor, sum(price) AS total FROM readings GROUP BY sensor) SELECT sensor, total FROM t ORDER BY sensor
SELECT (SELECT sum(price) FROM readings) AS total
SELECT id, sum(price) OVER (ORDER BY id) AS running FROM readings ORDER BY id
SELECT sum(price) FILTER (WHERE sensor = 'a') AS a_total, sum(DISTINCT qty) FROM readings
SELECT sum(price) FROM readings WHERE sensor = 'z'
SELECT sum(id::bigint) FROM readings
SELECT sum(price) + 1 AS plus FROM readings
SELECT length(sensor), char_length(sensor) AS c, strpos(sensor, 'a'), ascii(sensor), octet_length(sensor) FROM readings ORDER BY id
SELECT id FROM readings WHERE length(sensor) = 1 ORDER BY id LIMIT 1
SELECT length(NULL::text)
SELECT sum(length(sensor)) FROM readings
