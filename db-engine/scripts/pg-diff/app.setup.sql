DROP TABLE IF EXISTS jobs;
DROP TABLE IF EXISTS docs;
DROP TABLE IF EXISTS users;
CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE, name text, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz);
CREATE TABLE docs (id serial PRIMARY KEY, body jsonb NOT NULL, owner text);
CREATE TABLE jobs (id serial PRIMARY KEY, queue text NOT NULL, payload jsonb, run_at timestamptz NOT NULL DEFAULT now(), locked_by text, attempts int NOT NULL DEFAULT 0);
INSERT INTO users (email, name, created_at) VALUES ('a@x.io', 'Ann', '2026-01-01 00:00:00+00'), ('b@x.io', 'Bob', '2026-01-02 00:00:00+00');
INSERT INTO docs (body, owner) VALUES ('{"title":"t1","tags":["a","b"],"n":1}', 'a@x.io'), ('{"title":"t2","tags":["c"],"n":2,"meta":{"k":"v"}}', 'b@x.io');
INSERT INTO jobs (queue, payload, run_at) VALUES ('default', '{"x":1}', '2026-01-01 00:00:00+00'), ('default', '{"x":2}', '2026-01-01 00:00:01+00'), ('mail', '{"x":3}', '2026-01-01 00:00:02+00')
