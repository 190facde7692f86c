DROP TABLE IF EXISTS readings;
CREATE TABLE readings (id integer PRIMARY KEY, sensor text NOT NULL, at timestamp NOT NULL, seen timestamptz, price numeric(12,2), qty numeric(6), ratio numeric);
INSERT INTO readings VALUES (1, 'a', '2026-03-01 09:59:59.75', '2026-03-01 09:59:59.75+00', 10.5, 3, 0.5), (2, 'a', '2026-03-02 10:00:00', '2026-03-02 23:30:00+00', 99.99, 12, 1.25), (3, 'b', '2026-03-02 11:30:00', NULL, 5, 7, 2), (4, 'b', '2026-04-15 23:59:59', '2026-04-15 23:59:59+00', 0.01, NULL, NULL)
