/**
 * COPY with real clients, against the engine process over six storage nodes and against the
 * independent SQLite test backend (support/endpoints.ts):
 * - psql's `\copy t FROM 'file' CSV HEADER` of 3 000 rows holding quotes, delimiters, line breaks
 *   inside quoted fields, NULLs, empty strings and unicode, then `\copy t TO 'file' CSV HEADER`:
 *   the file comes back byte for byte; the same in text format with its backslash escapes;
 * - `psql -f` of a pg_dump-style script (`COPY t (a, b) FROM stdin;`, data lines, `\.`);
 * - a bad row in the middle: psql prints the error with its line (CONTEXT) and nothing is inserted;
 *   COPY inside BEGIN … ROLLBACK leaves nothing;
 * - node-postgres driving the COPY sub-protocol itself (as pg-copy-streams does): CopyFail leaves
 *   nothing, a client that disconnects mid-COPY leaves nothing and frees the writer at once, and
 *   COPY TO STDOUT streams rows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Endpoint,
  type EndpointKind,
  PG_PASSWORD,
  PG_USER,
  startEndpoint,
} from './support/endpoints.js';

async function psql(
  port: number,
  args: readonly string[],
  input = '',
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, PGCONNECT_TIMEOUT: '10', PGPASSWORD: PG_PASSWORD };
  const child = execFile(
    '/usr/bin/psql',
    ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, '-d', 'app', '-X', ...args],
    { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  child.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? -1)));
  return { code, stdout, stderr };
}

/** One psql command's single value (`-tA`). */
async function value(port: number, sql: string): Promise<string> {
  const result = await psql(port, ['-tA', '-c', sql]);
  expect(result.stderr).toBe('');
  return result.stdout.trim();
}

/** Deterministic text with what CSV must quote and what text format must escape. */
function awkwardText(index: number): string | null {
  const pieces = [
    'plain',
    'a,b',
    'say "hi"',
    'two\nlines',
    'crlf\r\nend',
    'tab\there',
    'back\\slash',
    'ünï ☕ 日本',
    ' padded ',
    '\\.',
    '',
    ',',
    '"',
  ];
  if (index % 17 === 0) return null;
  return `${pieces[index % pieces.length]}${index % 3 === 0 ? '' : ` #${index}`}`;
}

/** PostgreSQL's CSV output of a value (quoted only when it must be; NULL unquoted and empty). */
function csvField(text: string | null): string {
  if (text === null) return '';
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** PostgreSQL's text-format output of a value. */
function textField(text: string | null): string {
  if (text === null) return '\\N';
  return text.replace(
    /[\\\n\r\t]/g,
    (char) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[char] as string,
  );
}

const ROWS = 3_000;

function rows(): (string | null)[][] {
  return Array.from({ length: ROWS }, (_, index) => [
    String(index + 1),
    awkwardText(index),
    awkwardText(index * 7 + 3),
    index % 11 === 0 ? null : String((index - 1_500) * 1_000_003),
    index % 13 === 0 ? null : `${index}.25`,
  ]);
}

/** A client-side COPY for node-postgres, as pg-copy-streams drives it: the protocol's messages. */
class CopyQuery {
  readonly done: Promise<string>;
  readonly received: Buffer[] = [];
  private resolve!: (tag: string) => void;
  private reject!: (error: Error) => void;
  private tag = '';

  constructor(
    readonly text: string,
    private readonly feed: (connection: CopyConnection) => void = () => {},
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: CopyConnection): void {
    this.feed(connection);
  }
  handleCopyData(message: { chunk: Buffer }): void {
    this.received.push(message.chunk);
  }
  handleCommandComplete(message: { text: string }): void {
    this.tag = message.text;
  }
  handleError(error: Error): void {
    // Rejected at once: a connection that ends sends no ReadyForQuery.
    this.reject(error);
  }
  handleReadyForQuery(): void {
    this.resolve(this.tag);
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: { destroy(): void };
}

function client(port: number): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password: PG_PASSWORD, database: 'app' });
}

const endpoints = new Map<EndpointKind, Promise<Endpoint>>();

afterAll(async () => {
  const started = await Promise.allSettled(endpoints.values());
  await Promise.all(
    started.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)),
  );
}, 60_000);

describe.each(['engine', 'sqlite'] as const)('COPY over the %s endpoint', (kind) => {
  let port: number;
  let directory: string;

  beforeAll(async () => {
    const started = startEndpoint(kind);
    endpoints.set(kind, started);
    port = (await started).port;
    directory = mkdtempSync(join(tmpdir(), `northlight-copy-${kind}-`));
  }, 120_000);

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  const schema = (table: string) =>
    `CREATE TABLE ${table} (id INTEGER PRIMARY KEY, name TEXT, note VARCHAR(200), amount BIGINT, score DOUBLE PRECISION);`;

  it('psql \\copy of CSV with a header round-trips byte for byte', async () => {
    const input = join(directory, 'in.csv');
    const output = join(directory, 'out.csv');
    const header = 'id,name,note,amount,score\n';
    writeFileSync(
      input,
      header +
        rows()
          .map((row) => `${row.map(csvField).join(',')}\n`)
          .join(''),
    );
    const load = await psql(
      port,
      ['-v', 'ON_ERROR_STOP=1'],
      `${schema('csv_rows')}\n\\copy csv_rows FROM '${input}' CSV HEADER\n`,
    );
    expect(load.stderr).toBe('');
    expect(load.stdout).toContain(`COPY ${ROWS}`);
    expect(await value(port, 'SELECT count(*), count(name), sum(amount) FROM csv_rows')).toBe(
      `${ROWS}|${rows().filter((row) => row[1] !== null).length}|${rows().reduce((sum, row) => sum + BigInt(row[3] ?? 0), 0n)}`,
    );
    expect(
      await value(port, "SELECT name = 'crlf' || char(13, 10) || 'end #4' FROM csv_rows WHERE id = 5"),
    ).toBe('t');
    const dump = await psql(port, [
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy csv_rows TO '${output}' CSV HEADER`,
    ]);
    expect(dump.stderr).toBe('');
    expect(readFileSync(output).equals(readFileSync(input))).toBe(true);
  });

  it('psql \\copy of text format with its escapes round-trips byte for byte', async () => {
    const input = join(directory, 'in.txt');
    const output = join(directory, 'out.txt');
    writeFileSync(
      input,
      rows()
        .map((row) => `${row.map(textField).join('\t')}\n`)
        .join(''),
    );
    const load = await psql(
      port,
      ['-v', 'ON_ERROR_STOP=1'],
      `${schema('text_rows')}\n\\copy text_rows FROM '${input}'\n`,
    );
    expect(load.stderr).toBe('');
    expect(await value(port, 'SELECT count(*), count(score), max(length(name)) FROM text_rows')).toMatch(
      /^3000\|2769\|\d+$/,
    );
    expect(await value(port, "SELECT note = 'two' || char(10) || 'lines' FROM text_rows WHERE id = 1")).toBe(
      't',
    );
    const dump = await psql(port, ['-v', 'ON_ERROR_STOP=1', '-c', `\\copy text_rows TO '${output}'`]);
    expect(dump.stderr).toBe('');
    expect(readFileSync(output).equals(readFileSync(input))).toBe(true);
  });

  it('psql -f runs a pg_dump-style script with COPY … FROM stdin data and \\.', async () => {
    const script = join(directory, 'dump.sql');
    writeFileSync(
      script,
      [
        'CREATE TABLE dumped (a INTEGER, b TEXT);',
        'COPY public.dumped (a, b) FROM stdin;',
        '1\tone',
        '2\t\\N',
        '3\tthree\\twith tab',
        '\\.',
        "INSERT INTO dumped VALUES (4, 'after');",
        '',
      ].join('\n'),
    );
    const result = await psql(port, ['-v', 'ON_ERROR_STOP=1', '-f', script]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('COPY 3');
    expect(await value(port, "SELECT group_concat(a || ':' || coalesce(b, 'NULL'), '|') FROM dumped")).toBe(
      '1:one|2:NULL|3:three\twith tab|4:after',
    );
  });

  it("psql -f of PostgreSQL 15's own pg_dump output: the table, its rows, key and index load; only sequences fail", async () => {
    // fixtures/pg_dump-15.sql: `pg_dump` 15.18 of a one-table database (a serial key, varchar with a
    // cast default, numeric, timestamptz DEFAULT now(), boolean, an index), byte for byte.
    const script = join(import.meta.dirname, 'fixtures', 'pg_dump-15.sql');
    const result = await psql(port, ['-f', script]);
    const errors = result.stderr.split('\n').filter((line) => line.includes('ERROR:'));
    // The sequence behind the serial (CREATE/ALTER SEQUENCE, its nextval default, setval): 0A000 with
    // a hint each, and psql goes on. Everything else — set_config, the SETs, public., OWNER TO,
    // USING btree, the cast default, ADD CONSTRAINT … PRIMARY KEY — is taken.
    expect(errors).toHaveLength(4);
    // The nextval default's `'…'::regclass` is refused as a cast: there is no sequence for it to name.
    expect(errors.filter((line) => /sequences|regclass|setval/.test(line))).toHaveLength(4);
    expect(result.stdout).toContain('COPY 2');
    expect(
      await value(port, "SELECT group_concat(id || ':' || name || ':' || coalesce(n, '-'), '|') FROM dumpme"),
    ).toBe('1:a:1.5|2:b:-');
    expect(
      await value(
        port,
        "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE tbl_name = 'dumpme' AND type = 'index' ORDER BY name)",
      ),
    ).toBe('dumpme_name_idx,dumpme_pkey');
  });

  it('a bad row in the middle: the error names its line, and nothing is inserted', async () => {
    const input = join(directory, 'bad.csv');
    const good = (id: number) => `${id},row ${id}\n`;
    const lines = [...Array.from({ length: 1_500 }, (_, index) => good(index + 1)), '1501,x,extra\n'];
    lines.push(...Array.from({ length: 500 }, (_, index) => good(index + 1_502)));
    writeFileSync(input, `id,name\n${lines.join('')}`);
    const result = await psql(
      port,
      [],
      `CREATE TABLE bad_rows (id INTEGER PRIMARY KEY, name TEXT);\n\\copy bad_rows FROM '${input}' (FORMAT csv, HEADER)\n`,
    );
    expect(result.stderr).toContain('ERROR:  extra data after last expected column');
    expect(result.stderr).toContain('CONTEXT:  COPY bad_rows, line 1502: "1501,x,extra"');
    expect(await value(port, 'SELECT count(*) FROM bad_rows')).toBe('0');
  });

  it('COPY inside BEGIN … ROLLBACK leaves nothing; inside BEGIN … COMMIT it stays', async () => {
    const input = join(directory, 'tx.txt');
    writeFileSync(input, '1\ta\n2\tb\n');
    const result = await psql(
      port,
      ['-v', 'ON_ERROR_STOP=1'],
      [
        'CREATE TABLE tx_rows (id INTEGER PRIMARY KEY, name TEXT);',
        'BEGIN;',
        `\\copy tx_rows FROM '${input}'`,
        'SELECT count(*) AS in_block FROM tx_rows;',
        'ROLLBACK;',
        'SELECT count(*) AS after_rollback FROM tx_rows;',
        'BEGIN;',
        `\\copy tx_rows FROM '${input}'`,
        'COMMIT;',
        '',
      ].join('\n'),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/in_block\s*\n-+\n\s*2\s*\n/);
    expect(result.stdout).toMatch(/after_rollback\s*\n-+\n\s*0\s*\n/);
    expect(await value(port, 'SELECT count(*) FROM tx_rows')).toBe('2');
  });

  it('node-postgres: CopyFail leaves nothing; COPY TO STDOUT streams the rows', async () => {
    const connection = client(port);
    await connection.connect();
    try {
      await connection.query('CREATE TABLE driver_rows (id INTEGER PRIMARY KEY, name TEXT)');
      const failed = new CopyQuery('COPY driver_rows FROM STDIN (FORMAT csv)', (wire) => {
        wire.sendCopyFromChunk(Buffer.from('1,a\n2,b\n'));
        wire.sendCopyFail('the source stream broke');
      });
      connection.query(failed as never);
      await expect(failed.done).rejects.toMatchObject({
        code: '57014',
        message: 'COPY from stdin failed: the source stream broke',
      });
      const loaded = new CopyQuery('COPY driver_rows FROM STDIN (FORMAT csv)', (wire) => {
        for (let index = 1; index <= 1_000; index++)
          wire.sendCopyFromChunk(Buffer.from(`${index},"n ${index}"\n`));
        wire.endCopyFrom();
      });
      connection.query(loaded as never);
      expect(await loaded.done).toBe('COPY 1000');
      const dumped = new CopyQuery(
        'COPY (SELECT id, name FROM driver_rows WHERE id <= 3 ORDER BY id) TO STDOUT WITH CSV',
      );
      connection.query(dumped as never);
      expect(await dumped.done).toBe('COPY 3');
      expect(Buffer.concat(dumped.received).toString()).toBe('1,n 1\n2,n 2\n3,n 3\n');
    } finally {
      await connection.end();
    }
  });

  it('node-postgres: a client that disconnects mid-COPY leaves nothing and frees the writer', async () => {
    const setup = client(port);
    await setup.connect();
    await setup.query('CREATE TABLE vanished_rows (id INTEGER PRIMARY KEY)');
    const leaving = client(port);
    leaving.on('error', () => {});
    await leaving.connect();
    const copy = new CopyQuery('COPY vanished_rows FROM STDIN', (wire) => {
      // More than one batch, so the COPY's transaction holds the writer when the client goes.
      wire.sendCopyFromChunk(
        Buffer.from(Array.from({ length: 5_000 }, (_, index) => `${index + 1}\n`).join('')),
      );
      setTimeout(() => wire.stream.destroy(), 200);
    });
    leaving.query(copy as never);
    await copy.done.catch(() => {});
    const started = performance.now();
    await setup.query("SET lock_timeout = '5s'");
    await setup.query('INSERT INTO vanished_rows VALUES (-1)');
    expect(performance.now() - started).toBeLessThan(4_000);
    expect((await setup.query('SELECT count(*) AS n FROM vanished_rows')).rows).toEqual([{ n: '1' }]);
    await setup.end();
  });
});
