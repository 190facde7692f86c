DROP VIEW IF EXISTS s_big_orders;
DROP TABLE IF EXISTS s_invites;
DROP TABLE IF EXISTS s_memberships;
DROP TABLE IF EXISTS s_orders;
DROP TABLE IF EXISTS s_users;
DROP TABLE IF EXISTS s_docs;
CREATE TABLE s_users (id serial PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, name text);
CREATE TABLE s_orders (id bigserial PRIMARY KEY, user_id integer NOT NULL REFERENCES s_users(id) ON DELETE CASCADE, total numeric(10,2), UNIQUE (user_id, total));
CREATE INDEX s_orders_total_idx ON s_orders (total);
CREATE TABLE s_memberships (team_id integer NOT NULL, user_id integer NOT NULL REFERENCES s_users ON UPDATE CASCADE, PRIMARY KEY (team_id, user_id));
CREATE TABLE s_invites (id serial PRIMARY KEY, email varchar(255) REFERENCES s_users(email) ON DELETE SET NULL);
CREATE VIEW s_big_orders AS SELECT id, total FROM s_orders WHERE total > 100;
CREATE TABLE s_docs (id integer PRIMARY KEY, data jsonb NOT NULL);
INSERT INTO s_docs VALUES (1, '{"status":"active","tags":["a","b"],"owner":{"name":"ann","teams":[1,2]}}'), (2, '{"status":"done","tags":["b"],"owner":{"name":"bo","teams":[2]}}'), (3, '{"status":"active","tags":[]}')
