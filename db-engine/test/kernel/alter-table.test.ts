// The ALTER TABLE forms SQLite lacks (kernel/alter-table.ts, table-definition.ts): the statement and
// CREATE TABLE readers on their own, then on a writer session, where each form must check the rows,
// rewrite the schema so that SQLite enforces the new rule at once, and leave nothing behind when the
// transaction fails. Expected messages and SQLSTATEs are PostgreSQL 15.18's for the same statements.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AlterTableError, parseAlteration, splitStatements } from '../../src/kernel/alter-table.js';
import type { ExecuteReply } from '../../src/kernel/messages.js';
import type { SqlSession } from '../../src/kernel/sql-session.js';
import {
  findConstraint,
  readTableDefinition,
  TableDefinitionError,
  withoutConstraint,
  withTableConstraint,
} from '../../src/kernel/table-definition.js';
import { ok, openWriter } from './support/writer-session.js';

describe('parseAlteration', () => {
  it('reads the forms SQLite lacks, and leaves SQLite its own', () => {
    expect(
      parseAlteration(
        'ALTER TABLE ONLY "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;',
      ),
    ).toEqual({
      table: 'Post',
      action: {
        kind: 'add-foreign-key',
        name: 'Post_authorId_fkey',
        columns: ['authorId'],
        parent: 'User',
        parentColumns: ['id'],
        clause: 'FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE',
        actions: 'ON DELETE RESTRICT ON UPDATE CASCADE',
        notValid: false,
      },
    });
    expect(
      parseAlteration('alter table t add foreign key (a, b) references p not valid')?.action,
    ).toMatchObject({
      kind: 'add-foreign-key',
      columns: ['a', 'b'],
      parentColumns: [],
      notValid: true,
    });
    expect(
      parseAlteration(
        'ALTER TABLE IF EXISTS main.t ALTER c SET DATA TYPE varchar(20) USING substr(c, 1, 20)',
      ),
    ).toEqual({
      table: 't',
      ifExists: true,
      action: { kind: 'set-type', column: 'c', type: 'varchar(20)', using: 'substr(c, 1, 20)' },
    });
    expect(parseAlteration('ALTER TABLE t ALTER COLUMN "C" SET DEFAULT (1 + 2)')?.action).toEqual({
      kind: 'set-default',
      column: 'C',
      expression: '(1 + 2)',
    });
    expect(parseAlteration('ALTER TABLE t ADD CHECK (a > 0) NOT VALID')?.action).toEqual({
      kind: 'add-check',
      expression: 'a > 0',
      notValid: true,
    });
    expect(parseAlteration('ALTER TABLE t DROP CONSTRAINT IF EXISTS x CASCADE')?.action).toEqual({
      kind: 'drop-constraint',
      name: 'x',
      ifExists: true,
    });
    expect(parseAlteration('ALTER TABLE t ALTER c SET STATISTICS 100')?.action).toEqual({ kind: 'ignored' });
    expect(parseAlteration('ALTER TABLE t ALTER c DROP IDENTITY')?.action).toMatchObject({
      kind: 'unsupported',
    });
    for (const sqlite of [
      'ALTER TABLE t ADD COLUMN c int',
      'ALTER TABLE t ADD c int REFERENCES p',
      'ALTER TABLE t DROP COLUMN c',
      'ALTER TABLE t RENAME TO u',
      'ALTER TABLE t RENAME COLUMN a TO b',
      'SELECT 1',
      'ALTER',
    ]) {
      expect(parseAlteration(sqlite), sqlite).toBeNull();
    }
  });

  it('splits an entry at its top-level semicolons, a trigger body kept whole', () => {
    expect(
      splitStatements(
        "ALTER TABLE t ALTER c SET NOT NULL; CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT ';'; SELECT 1; END; -- done\n",
      ),
    ).toEqual([
      'ALTER TABLE t ALTER c SET NOT NULL;',
      " CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT ';'; SELECT 1; END;",
    ]);
  });

  it('never fails with anything but a typed error on arbitrary text (fuzz)', () => {
    const words = fc.constantFrom(
      'ALTER',
      'TABLE',
      't',
      'ADD',
      'CONSTRAINT',
      'FOREIGN',
      'KEY',
      'REFERENCES',
      'CHECK',
      '(',
      ')',
      ',',
      'DROP',
      'ALTER',
      'COLUMN',
      'SET',
      'NOT',
      'NULL',
      'DEFAULT',
      'TYPE',
      'USING',
      'VALID',
      'IF',
      'EXISTS',
      '"q"',
      "'s'",
      '1',
      ';',
    );
    fc.assert(
      fc.property(fc.array(words, { maxLength: 14 }), fc.string({ maxLength: 8 }), (parts, noise) => {
        const sql = `ALTER TABLE t ${parts.join(' ')}${noise}`;
        try {
          parseAlteration(sql);
          splitStatements(sql);
        } catch (error) {
          if (!(error instanceof AlterTableError)) throw error;
        }
      }),
      { numRuns: Number(process.env.NL_ALTER_RUNS ?? 2_000) },
    );
  });
});

describe('readTableDefinition', () => {
  const sql = `CREATE TABLE "order items" (
  id INTEGER PRIMARY KEY AUTOINCREMENT, -- the key
  "order" int NOT NULL CONSTRAINT o_fk REFERENCES orders (id) ON DELETE SET NULL ON UPDATE SET DEFAULT NOT DEFERRABLE INITIALLY IMMEDIATE,
  qty numeric(10, 2) DEFAULT -1 CHECK (qty <> 0) /* never zero */,
  note text COLLATE NOCASE DEFAULT ('n/a'),
  total real GENERATED ALWAYS AS (qty * 2) STORED,
  sku TEXT UNIQUE ON CONFLICT REPLACE,
  CONSTRAINT positive CHECK (qty > 0),
  UNIQUE (sku, note),
  FOREIGN KEY (sku) REFERENCES skus (code) DEFERRABLE INITIALLY DEFERRED
) STRICT`;

  it('reads every column and constraint of a definition that uses the whole grammar', () => {
    const table = readTableDefinition(sql);
    expect(table.name).toBe('order items');
    expect(table.columns.map((column) => [column.name, column.constraints.map((c) => c.kind)])).toEqual([
      ['id', ['primary-key']],
      ['order', ['not-null', 'references']],
      ['qty', ['default', 'check']],
      ['note', ['collate', 'default']],
      ['total', ['generated']],
      ['sku', ['unique']],
    ]);
    expect(
      table.constraints.map((constraint) => [constraint.kind, constraint.name, constraint.columns]),
    ).toEqual([
      ['check', 'positive', undefined],
      ['unique', undefined, ['sku', 'note']],
      ['references', undefined, ['sku']],
    ]);
    expect(findConstraint(table, 'o_fk')?.constraint.references).toEqual({
      table: 'orders',
      columns: ['id'],
    });
    // PostgreSQL's names for the unnamed ones.
    expect(findConstraint(table, 'order items_sku_fkey')?.constraint.kind).toBe('references');
    expect(findConstraint(table, 'order items_qty_check')?.constraint.kind).toBe('check');
    expect(findConstraint(table, 'order items_sku_note_key')?.constraint.kind).toBe('unique');
    expect(findConstraint(table, 'order items_pkey')?.constraint.kind).toBe('primary-key');
  });

  it('edits only what it changes: add then drop gives the text back', () => {
    const table = readTableDefinition(sql);
    const added = withTableConstraint(table, 'CONSTRAINT "x" CHECK (id > 0)');
    const again = readTableDefinition(added);
    const found = findConstraint(again, 'x');
    expect(found).toBeDefined();
    expect(withoutConstraint(again, found!.constraint, found!.column)).toBe(sql);
    const column = findConstraint(table, 'o_fk')!;
    expect(withoutConstraint(table, column.constraint, column.column)).toContain('"order" int NOT NULL,');
  });

  it('refuses what it does not know rather than guess', () => {
    for (const bad of [
      'CREATE VIRTUAL TABLE f USING fts5(a)',
      'CREATE TABLE t AS SELECT 1',
      'CREATE TABLE t (a int NOT FOO)',
    ]) {
      expect(() => readTableDefinition(bad), bad).toThrow(TableDefinitionError);
    }
  });
});

function run(session: SqlSession, sql: string): ExecuteReply {
  return session.execute({ statements: [{ sql }] });
}

function failure(reply: ExecuteReply): { sqlstate: string; message: string; detail?: string } {
  if (reply.ok) throw new Error('expected a failure');
  return reply.error;
}

function rows(session: SqlSession, sql: string): unknown[][] {
  const reply = run(session, sql);
  if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}`);
  return reply.results.at(-1)!.rows as unknown[][];
}

function schemaOf(session: SqlSession, table: string): string {
  return rows(session, `SELECT sql FROM sqlite_schema WHERE name = '${table}'`)[0]![0] as string;
}

async function shop(): Promise<SqlSession> {
  const { session } = await openWriter();
  const reply = run(
    session,
    "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT UNIQUE, other int); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id integer, n int DEFAULT 3, s varchar(10)); INSERT INTO p VALUES (1, 'a', 0); INSERT INTO c VALUES (1, 1, 2, '12'), (2, 5, NULL, 'x')",
  );
  expect(reply.ok).toBe(true);
  return session;
}

describe('on a writer session', () => {
  it('ADD FOREIGN KEY checks the rows first, then SQLite enforces it in the same transaction', async () => {
    const session = await shop();
    expect(
      failure(
        run(
          session,
          'ALTER TABLE c ADD CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE',
        ),
      ),
    ).toMatchObject({
      sqlstate: '23503',
      message: 'insert or update on table "c" violates foreign key constraint "c_p"',
      detail: 'Key (p_id)=(5) is not present in table "p".',
    });
    expect(run(session, 'DELETE FROM c WHERE id = 2').ok).toBe(true);
    // The INSERT fails on the new key inside the same request: the whole request rolls back.
    expect(
      failure(
        run(
          session,
          'ALTER TABLE c ADD CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE; INSERT INTO c VALUES (3, 9, 1, NULL)',
        ),
      ).sqlstate,
    ).toBe('23503');
    expect(rows(session, "SELECT count(*) FROM pragma_foreign_key_list('c')")).toEqual([[0]]);
    expect(
      run(session, 'ALTER TABLE c ADD CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE')
        .ok,
    ).toBe(true);
    expect(
      rows(session, 'SELECT "from", "table", "to", on_delete FROM pragma_foreign_key_list(\'c\')'),
    ).toEqual([['p_id', 'p', 'id', 'CASCADE']]);
    expect(failure(run(session, 'INSERT INTO c VALUES (3, 9, 1, NULL)')).sqlstate).toBe('23503');
    expect(run(session, 'DELETE FROM p WHERE id = 1').ok).toBe(true);
    expect(rows(session, 'SELECT count(*) FROM c')).toEqual([[0]]); // ON DELETE CASCADE
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it('refuses a foreign key PostgreSQL would refuse, with its SQLSTATE and message', async () => {
    const session = await shop();
    const cases: [string, string, string][] = [
      [
        'ALTER TABLE c ADD FOREIGN KEY (p_id, n) REFERENCES p (id, other)',
        '42830',
        'there is no unique constraint matching given keys for referenced table "p"',
      ],
      [
        'ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p (other)',
        '42830',
        'there is no unique constraint matching given keys for referenced table "p"',
      ],
      [
        'ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES nope (id)',
        '42P01',
        'relation "nope" does not exist',
      ],
      [
        'ALTER TABLE c ADD FOREIGN KEY (zz) REFERENCES p (id)',
        '42703',
        'column "zz" referenced in foreign key constraint does not exist',
      ],
      [
        'ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p (zz)',
        '42703',
        'column "zz" referenced in foreign key constraint does not exist',
      ],
      [
        'ALTER TABLE c ADD FOREIGN KEY (p_id, n) REFERENCES p (id)',
        '42830',
        'number of referencing and referenced columns for foreign key disagree',
      ],
      ['ALTER TABLE nope ADD FOREIGN KEY (a) REFERENCES p', '42P01', 'relation "nope" does not exist'],
    ];
    for (const [sql, sqlstate, message] of cases)
      expect(failure(run(session, sql)), sql).toMatchObject({ sqlstate, message });
    // NOT VALID skips the rows, which VALIDATE CONSTRAINT then checks; a unique column is a key.
    expect(run(session, 'ALTER TABLE c ADD FOREIGN KEY (s) REFERENCES p (code) NOT VALID').ok).toBe(true);
    expect(failure(run(session, 'ALTER TABLE c VALIDATE CONSTRAINT c_s_fkey'))).toMatchObject({
      sqlstate: '23503',
      detail: 'Key (s)=(12) is not present in table "p".',
    });
    expect(failure(run(session, 'ALTER TABLE c ADD CONSTRAINT c_s_fkey CHECK (n > 0)'))).toMatchObject({
      sqlstate: '42710',
      message: 'constraint "c_s_fkey" for relation "c" already exists',
    });
    expect(failure(run(session, 'ALTER TABLE nope DROP CONSTRAINT x')).sqlstate).toBe('42P01');
    // pgbench --foreign-keys: a reference without columns to a table whose primary key is the
    // unique index `<table>_pkey` (the endpoint's ADD PRIMARY KEY) is written out with its columns,
    // which SQLite needs (it reads a bare reference as the parent's PRIMARY KEY).
    expect(
      run(
        session,
        'CREATE TABLE branches (bid int NOT NULL, name text); CREATE UNIQUE INDEX branches_pkey ON branches (bid); CREATE TABLE tellers (tid int, bid int); INSERT INTO branches VALUES (1, NULL); INSERT INTO tellers VALUES (1, 1)',
      ).ok,
    ).toBe(true);
    expect(
      run(
        session,
        'alter table tellers add constraint tellers_bid_fkey foreign key (bid) references branches',
      ).ok,
    ).toBe(true);
    expect(schemaOf(session, 'tellers')).toBe(
      'CREATE TABLE tellers (tid int, bid int, CONSTRAINT "tellers_bid_fkey" FOREIGN KEY ("bid") REFERENCES "branches" ("bid"))',
    );
    expect(failure(run(session, 'INSERT INTO tellers VALUES (2, 2)')).sqlstate).toBe('23503');
    expect(run(session, 'ALTER TABLE tellers VALIDATE CONSTRAINT tellers_bid_fkey').ok).toBe(true);
    expect(failure(run(session, 'ALTER TABLE tellers ADD FOREIGN KEY (tid) REFERENCES c (n)'))).toMatchObject(
      {
        sqlstate: '42830',
      },
    );
    expect(run(session, 'ALTER TABLE IF EXISTS nope DROP CONSTRAINT x').ok).toBe(true);
  });

  it('SET NOT NULL, DROP NOT NULL, SET DEFAULT and DROP DEFAULT change what SQLite enforces', async () => {
    const session = await shop();
    expect(failure(run(session, 'ALTER TABLE c ALTER COLUMN n SET NOT NULL'))).toMatchObject({
      sqlstate: '23502',
      message: 'column "n" of relation "c" contains null values',
    });
    expect(failure(run(session, 'ALTER TABLE c ALTER COLUMN zz SET NOT NULL'))).toMatchObject({
      sqlstate: '42703',
      message: 'column "zz" of relation "c" does not exist',
    });
    expect(failure(run(session, 'ALTER TABLE c ALTER COLUMN id DROP NOT NULL'))).toMatchObject({
      sqlstate: '42P16',
      message: 'column "id" is in a primary key',
    });
    expect(
      run(session, 'UPDATE c SET n = 0 WHERE n IS NULL; ALTER TABLE c ALTER COLUMN n SET NOT NULL').ok,
    ).toBe(true);
    expect(failure(run(session, 'INSERT INTO c (id, n) VALUES (3, NULL)')).sqlstate).toBe('23502');
    expect(
      run(session, "ALTER TABLE c ALTER COLUMN n SET DEFAULT 7; ALTER TABLE c ALTER s SET DEFAULT lower('X')")
        .ok,
    ).toBe(true);
    expect(run(session, 'INSERT INTO c (id) VALUES (4)').ok).toBe(true);
    expect(rows(session, 'SELECT n, s FROM c WHERE id = 4')).toEqual([[7, 'x']]);
    expect(run(session, 'ALTER TABLE c ALTER n DROP DEFAULT; ALTER TABLE c ALTER n DROP NOT NULL').ok).toBe(
      true,
    );
    expect(run(session, 'INSERT INTO c (id) VALUES (5)').ok).toBe(true);
    expect(rows(session, 'SELECT n FROM c WHERE id = 5')).toEqual([[null]]);
    expect(schemaOf(session, 'c')).toBe(
      "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id integer, n int, s varchar(10) DEFAULT (lower('X')))",
    );
    // A default that is not constant is SQLite's error, before anything is written.
    expect(failure(run(session, 'ALTER TABLE c ALTER n SET DEFAULT (SELECT 1)')).message).toMatch(
      /default value/,
    );
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it('TYPE changes the declared type and converts the values, or fails and leaves them', async () => {
    const session = await shop();
    expect(failure(run(session, 'ALTER TABLE c ALTER COLUMN s TYPE integer'))).toMatchObject({
      sqlstate: '22P02',
      message: 'invalid input syntax for type integer: "x"',
    });
    expect(rows(session, 'SELECT typeof(s) FROM c ORDER BY id')).toEqual([['text'], ['text']]);
    expect(
      run(session, "ALTER TABLE c ALTER COLUMN s TYPE integer USING (CASE WHEN s = 'x' THEN NULL ELSE s END)")
        .ok,
    ).toBe(true);
    expect(rows(session, 'SELECT s, typeof(s) FROM c ORDER BY id')).toEqual([
      [12, 'integer'],
      [null, 'null'],
    ]);
    expect(
      run(
        session,
        'ALTER TABLE c ALTER COLUMN n TYPE bigint; ALTER TABLE c ALTER COLUMN s SET DATA TYPE text',
      ).ok,
    ).toBe(true);
    expect(rows(session, 'SELECT s, typeof(s) FROM c WHERE id = 1')).toEqual([['12', 'text']]);
    expect(rows(session, "SELECT type FROM pragma_table_info('c') ORDER BY cid")).toEqual([
      ['INTEGER'],
      ['INTEGER'],
      ['bigint'],
      ['TEXT'],
    ]);
    // A real becomes an integer as PostgreSQL rounds it.
    expect(
      run(
        session,
        'UPDATE c SET n = 2.5 WHERE id = 1; ALTER TABLE c ALTER n TYPE real; ALTER TABLE c ALTER n TYPE int',
      ).ok,
    ).toBe(true);
    expect(rows(session, 'SELECT n, typeof(n) FROM c WHERE id = 1')).toEqual([[3, 'integer']]);
    // Whether a column is the table's rowid is in the rows' format: that is not a text edit.
    expect(failure(run(session, 'ALTER TABLE c ALTER COLUMN id TYPE bigint'))).toMatchObject({
      sqlstate: '0A000',
    });
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it('ADD CHECK, DROP CONSTRAINT, RENAME CONSTRAINT by the names PostgreSQL gives', async () => {
    const session = await shop();
    expect(failure(run(session, 'ALTER TABLE c ADD CHECK (n > 5)'))).toMatchObject({
      sqlstate: '23514',
      message: 'check constraint "c_n_check" of relation "c" is violated by some row',
    });
    expect(
      run(
        session,
        "ALTER TABLE c ADD CHECK (n > 0); ALTER TABLE c ADD CHECK (s <> ''); ALTER TABLE c ADD CHECK (1 = 1)",
      ).ok,
    ).toBe(true);
    expect(failure(run(session, 'INSERT INTO c (id, n) VALUES (3, 0)')).sqlstate).toBe('23514');
    expect(failure(run(session, 'ALTER TABLE c RENAME CONSTRAINT c_n_check TO c_s_check'))).toMatchObject({
      sqlstate: '42710',
      message: 'constraint "c_s_check" for relation "c" already exists',
    });
    expect(
      run(
        session,
        'ALTER TABLE c RENAME CONSTRAINT c_n_check TO positive_n; ALTER TABLE c DROP CONSTRAINT c_check',
      ).ok,
    ).toBe(true);
    expect(schemaOf(session, 'c')).toBe(
      'CREATE TABLE c (id INTEGER PRIMARY KEY, p_id integer, n int DEFAULT 3, s varchar(10), CONSTRAINT "positive_n" CHECK (n > 0), CONSTRAINT "c_s_check" CHECK (s <> \'\'))',
    );
    expect(run(session, 'ALTER TABLE c DROP CONSTRAINT positive_n').ok).toBe(true);
    expect(run(session, 'INSERT INTO c (id, n) VALUES (3, 0)').ok).toBe(true);
    expect(failure(run(session, 'ALTER TABLE c DROP CONSTRAINT nope'))).toMatchObject({
      sqlstate: '42704',
      message: 'constraint "nope" of relation "c" does not exist',
    });
    expect(run(session, 'ALTER TABLE c DROP CONSTRAINT IF EXISTS nope').ok).toBe(true);
    // A table's own PRIMARY KEY or UNIQUE is its index: not a text edit. One made by CREATE UNIQUE
    // INDEX (the PostgreSQL endpoint's ADD UNIQUE) drops with its index.
    expect(failure(run(session, 'ALTER TABLE p DROP CONSTRAINT p_code_key')).sqlstate).toBe('0A000');
    expect(
      run(session, 'CREATE UNIQUE INDEX p_other_key ON p (other); ALTER TABLE p DROP CONSTRAINT p_other_key')
        .ok,
    ).toBe(true);
    expect(rows(session, "SELECT count(*) FROM sqlite_schema WHERE name = 'p_other_key'")).toEqual([[0]]);
    // A column's own REFERENCES, unnamed, goes by PostgreSQL's name for it.
    expect(
      run(
        session,
        'CREATE TABLE d (id INTEGER PRIMARY KEY, c_id int REFERENCES c ON DELETE CASCADE NOT NULL)',
      ).ok,
    ).toBe(true);
    expect(run(session, 'ALTER TABLE d DROP CONSTRAINT d_c_id_fkey').ok).toBe(true);
    expect(schemaOf(session, 'd')).toBe('CREATE TABLE d (id INTEGER PRIMARY KEY, c_id int NOT NULL)');
    expect(
      failure(run(session, 'CREATE VIEW v AS SELECT 1 AS x; ALTER TABLE v ADD CHECK (x > 0)')),
    ).toMatchObject({
      sqlstate: '42809',
    });
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it('ADD COLUMN of what SQLite refuses to add: NOT NULL without a default, a default to fill the rows with, UNIQUE', async () => {
    const { session } = await openWriter();
    ok(session.execute({ statements: [{ sql: 'CREATE TABLE ac (id INTEGER PRIMARY KEY, a text)' }] }));
    // An empty table takes a NOT NULL column with no default, as PostgreSQL's does.
    expect(run(session, 'ALTER TABLE ac ADD COLUMN b int NOT NULL').ok).toBe(true);
    ok(session.execute({ statements: [{ sql: "INSERT INTO ac (a, b) VALUES ('1', 1), ('2', 2)" }] }));
    expect(failure(run(session, 'ALTER TABLE ac ADD COLUMN c int NOT NULL'))).toMatchObject({
      sqlstate: '23502',
      message: 'column "c" of relation "ac" contains null values',
    });
    expect(rows(session, "SELECT count(*) FROM pragma_table_info('ac') WHERE name = 'c'")).toEqual([[0]]);
    // knex's timestamp().defaultTo(knex.fn.now()).notNullable() on a table with rows: filled, then enforced.
    expect(
      run(
        session,
        "ALTER TABLE ac ADD COLUMN at text NOT NULL DEFAULT CURRENT_TIMESTAMP, ADD COLUMN l text DEFAULT (lower('X'))".replace(
          ', ADD COLUMN',
          '; ALTER TABLE ac ADD COLUMN',
        ),
      ).ok,
    ).toBe(true);
    expect(rows(session, "SELECT count(*) FROM ac WHERE at IS NOT NULL AND l = 'x'")).toEqual([[2]]);
    expect(failure(run(session, 'INSERT INTO ac (a, b, at) VALUES (3, 3, NULL)')).sqlstate).toBe('23502');
    // UNIQUE: a unique index named as PostgreSQL names the constraint (or as given).
    expect(
      run(session, 'ALTER TABLE ac ADD COLUMN f int UNIQUE; ALTER TABLE ac ADD h int CONSTRAINT u UNIQUE').ok,
    ).toBe(true);
    expect(rows(session, "SELECT name FROM pragma_index_list('ac') ORDER BY name")).toEqual([
      ['ac_f_key'],
      ['u'],
    ]);
    expect(failure(run(session, "INSERT INTO ac (a, b, f) VALUES ('3', 3, 1), ('4', 4, 1)")).sqlstate).toBe(
      '23505',
    );
    // What SQLite takes as written stays SQLite's: a literal default, NOT NULL with one.
    expect(run(session, 'ALTER TABLE ac ADD COLUMN g int NOT NULL DEFAULT 0').ok).toBe(true);
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it("DROP TABLE … CASCADE drops the other tables' foreign keys to it, and keeps their rows, as PostgreSQL does", async () => {
    const { session } = await openWriter();
    ok(
      session.execute({
        statements: [
          {
            sql: 'CREATE TABLE dc_parent (id int PRIMARY KEY); CREATE TABLE dc_child (id int PRIMARY KEY, p int REFERENCES dc_parent, q int, r int REFERENCES dc_child, CONSTRAINT q_fk FOREIGN KEY (q) REFERENCES dc_parent (id) ON DELETE CASCADE); INSERT INTO dc_parent VALUES (1); INSERT INTO dc_child VALUES (1, 1, 1, NULL)',
          },
        ],
      }),
    );
    expect(run(session, 'DROP TABLE dc_parent CASCADE').ok).toBe(true);
    // The child's own key to itself stays; its rows too (ON DELETE CASCADE did not fire).
    expect(schemaOf(session, 'dc_child')).toBe(
      'CREATE TABLE dc_child (id int PRIMARY KEY, p int, q int, r int REFERENCES dc_child)',
    );
    expect(run(session, 'INSERT INTO dc_child VALUES (2, 9, 9, 1)').ok).toBe(true);
    expect(rows(session, 'SELECT count(*) FROM dc_child')).toEqual([[2]]);
    expect(run(session, 'DROP TABLE IF EXISTS dc_parent CASCADE').ok).toBe(true);
    expect(failure(run(session, 'DROP TABLE dc_parent CASCADE'))).toMatchObject({
      sqlstate: '42P01',
      message: 'table "dc_parent" does not exist',
    });
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it('DROP TABLE … RESTRICT (what the PostgreSQL endpoint sends) refuses while another table points at it, as PostgreSQL does', async () => {
    const { session } = await openWriter();
    ok(
      session.execute({
        statements: [
          {
            sql: 'CREATE TABLE dc_parent (id int PRIMARY KEY); CREATE TABLE dc_child (id int PRIMARY KEY, p int REFERENCES dc_parent, q int, r int REFERENCES dc_child, CONSTRAINT q_fk FOREIGN KEY (q) REFERENCES dc_parent (id)); CREATE TABLE lone (id int PRIMARY KEY, up int REFERENCES lone)',
          },
        ],
      }),
    );
    const refused = session.execute({ statements: [{ sql: 'DROP TABLE dc_parent RESTRICT' }] });
    expect(refused).toMatchObject({
      ok: false,
      error: {
        sqlstate: '2BP01',
        message: 'cannot drop table dc_parent because other objects depend on it',
        detail:
          'constraint dc_child_p_fkey on table dc_child depends on table dc_parent\n' +
          'constraint q_fk on table dc_child depends on table dc_parent',
        hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
      },
    });
    // Together with the table that points at it, or a table that points only at itself: dropped.
    expect(run(session, 'DROP TABLE lone RESTRICT').ok).toBe(true);
    expect(run(session, 'DROP TABLE IF EXISTS dc_parent, nope, dc_child RESTRICT').ok).toBe(true);
    expect(rows(session, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'")).toEqual([[0]]);
    // Without the word, DROP TABLE is SQLite's (the HTTP API's dialect).
    ok(
      session.execute({
        statements: [{ sql: 'CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (a int REFERENCES a)' }],
      }),
    );
    expect(run(session, 'DROP TABLE a').ok).toBe(true);
  });

  it('answers every malformed or odd ALTER TABLE with an error reply, never a crash (fuzz)', async () => {
    const session = await shop();
    const words = fc.constantFrom(
      'ADD',
      'CONSTRAINT',
      'k',
      'FOREIGN',
      'KEY',
      'REFERENCES',
      'p',
      'CHECK',
      '(',
      ')',
      ',',
      'DROP',
      'ALTER',
      'COLUMN',
      'n',
      's',
      'p_id',
      'SET',
      'NOT',
      'NULL',
      'DEFAULT',
      'TYPE',
      'USING',
      'VALID',
      'VALIDATE',
      'RENAME',
      'TO',
      'IF',
      'EXISTS',
      '"q"',
      "'s'",
      '1',
      '-',
      'int',
      'text',
      'ON',
      'DELETE',
      'CASCADE',
      ';',
      'SELECT',
    );
    const before = rows(session, 'SELECT id, p_id, n, s FROM c ORDER BY id');
    fc.assert(
      fc.property(fc.array(words, { maxLength: 12 }), (parts) => {
        const sql = `ALTER TABLE c ${parts.join(' ')}`;
        const reply = run(session, sql);
        if (!reply.ok) expect(reply.error.sqlstate).toMatch(/^[0-9A-Z]{5}$/);
        // SQLite's own RENAME TO may have renamed the table: back to c.
        const renamed = rows(
          session,
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT IN ('p', 'c')",
        );
        if (renamed.length > 0)
          expect(run(session, `ALTER TABLE "${renamed[0]![0]}" RENAME TO c`).ok).toBe(true);
        expect(
          () => readTableDefinition(schemaOf(session, 'c')),
          `${sql} → ${schemaOf(session, 'c')}`,
        ).not.toThrow();
      }),
      { numRuns: Number(process.env.NL_ALTER_RUNS ?? 1_500) },
    );
    expect(rows(session, 'PRAGMA integrity_check')).toEqual([['ok']]);
    // Some alterations succeed (a type, a default): the rows are still the same rows.
    expect(rows(session, 'SELECT id FROM c ORDER BY id')).toEqual(before.map(([id]) => [id]));
  });

  it('inside an interactive transaction: the new rule holds at once, and ROLLBACK takes it back', async () => {
    const session = await shop();
    const step = (sql: string, kind: 'open' | 'continue' | 'rollback' | 'commit'): ExecuteReply =>
      session.execute({
        statements: kind === 'rollback' ? [] : [{ sql }],
        transaction: { id: 1, step: kind },
      });
    expect(step('DELETE FROM c WHERE id = 2', 'open').ok).toBe(true);
    expect(step('ALTER TABLE c ADD FOREIGN KEY (p_id) REFERENCES p', 'continue').ok).toBe(true);
    expect(failure(step('INSERT INTO c VALUES (9, 9, 9, NULL)', 'continue')).sqlstate).toBe('23503');
    // That failure ended the transaction (no savepoint): the ALTER is gone with it.
    expect(rows(session, "SELECT count(*) FROM pragma_foreign_key_list('c')")).toEqual([[0]]);
    expect(rows(session, 'SELECT count(*) FROM c')).toEqual([[2]]);
    expect(step('ALTER TABLE c ALTER n SET DEFAULT 42', 'open').ok).toBe(true);
    expect(step('', 'rollback').ok).toBe(true);
    expect(schemaOf(session, 'c')).toContain('n int DEFAULT 3');
  });

  it('keeps the schema readable and the rows intact under random alterations (property)', async () => {
    const session = await shop();
    const alteration = fc.constantFrom(
      'ALTER TABLE c ALTER n SET NOT NULL',
      'ALTER TABLE c ALTER n DROP NOT NULL',
      'ALTER TABLE c ALTER n SET DEFAULT 5',
      'ALTER TABLE c ALTER n DROP DEFAULT',
      'ALTER TABLE c ALTER s TYPE text',
      'ALTER TABLE c ALTER s TYPE varchar(10)',
      'ALTER TABLE c ALTER n TYPE numeric(10, 2)',
      'ALTER TABLE c ADD CONSTRAINT k CHECK (id > 0)',
      'ALTER TABLE c DROP CONSTRAINT k',
      'ALTER TABLE c RENAME CONSTRAINT k TO k2',
      'ALTER TABLE c DROP CONSTRAINT IF EXISTS k2',
      'ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (p_id) REFERENCES p NOT VALID',
      'ALTER TABLE c DROP CONSTRAINT f',
      'ALTER TABLE c ADD FOREIGN KEY (s) REFERENCES p (code) ON DELETE SET NULL NOT VALID',
      'ALTER TABLE c DROP CONSTRAINT c_s_fkey',
    );
    const before = rows(session, 'SELECT id, p_id, n, s FROM c ORDER BY id');
    await fc.assert(
      fc.asyncProperty(fc.array(alteration, { maxLength: 8 }), async (statements) => {
        for (const sql of statements) {
          const reply = run(session, sql);
          if (!reply.ok)
            expect(['23502', '42704', '42710'], `${sql}: ${reply.error.message}`).toContain(
              reply.error.sqlstate,
            );
          expect(() => readTableDefinition(schemaOf(session, 'c'))).not.toThrow();
        }
        expect(rows(session, 'SELECT id, p_id, n, s FROM c ORDER BY id')).toEqual(before);
        expect(rows(session, 'PRAGMA quick_check')).toEqual([['ok']]);
      }),
      { numRuns: Number(process.env.NL_ALTER_RUNS ?? 60) },
    );
  });
});
