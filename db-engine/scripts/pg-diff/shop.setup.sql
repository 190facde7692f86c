DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email varchar(100) UNIQUE, created_at timestamptz NOT NULL DEFAULT now(), active boolean DEFAULT true, score numeric(10,2), tags text);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id integer REFERENCES customers(id), amount numeric(12,2) NOT NULL, placed_at timestamp NOT NULL, status varchar(20) DEFAULT 'new', note text);
INSERT INTO customers (name, email, created_at, active, score) VALUES ('Ann','ann@x.io','2026-01-05 10:00:00+00',true,12.5),('Bob','bob@x.io','2026-02-10 12:30:00+00',false,7),('Cy',NULL,'2026-02-11 08:15:30+00',true,NULL);
INSERT INTO orders (customer_id, amount, placed_at, status) VALUES (1, 10.50, '2026-03-01 09:00:00','paid'),(1, 99.99, '2026-03-02 10:00:00','new'),(2, 5.00, '2026-03-02 11:30:00','paid'),(3, 0.01, '2026-04-15 23:59:59','cancelled')
