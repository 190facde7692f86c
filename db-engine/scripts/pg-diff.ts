/**
 * `npm run -w @northlight/db-engine pg-diff -- --northlight URL --postgres URL [--corpus DIR] [--json]`
 *
 * Runs the same statements against a northlight PostgreSQL endpoint and against a real PostgreSQL,
 * through node-postgres with every value read as the text sent, and prints each statement whose
 * answer differs: its column names and type OIDs, its rows, or its SQLSTATE and message. A tool for
 * finding where a client would see northlight behave otherwise than PostgreSQL (not a test: some
 * differences are known and documented in docs/clients.md). Point both URLs at scratch databases:
 * each corpus drops and creates its own tables.
 *
 * A corpus is a pair of files in `--corpus` (default scripts/pg-diff/): `NAME.setup.sql`, statements
 * separated by `;` at the end of a line, run first on both sides; and `NAME.queries.sql`, one
 * statement per line (`--` comments and blank lines skipped), each run on both on one connection
 * per side. Stderr has the differences, stdout one JSON summary: per corpus the statements, how
 * many answered alike, and the differences.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

interface Answer {
  readonly columns?: string;
  readonly rows?: string;
  readonly error?: string;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
}

const northlightUrl = option('northlight');
const postgresUrl = option('postgres');
if (northlightUrl === undefined || postgresUrl === undefined) {
  process.stderr.write(
    'usage: pg-diff --northlight postgresql://… --postgres postgresql://… [--corpus DIR] [--json]\n' +
      '(the northlight URL is the one `northlight up` prints; use scratch databases on both sides)\n',
  );
  process.exit(2);
}
const corpusDirectory = option('corpus') ?? join(dirname(fileURLToPath(import.meta.url)), 'pg-diff');

/** Every value as the text the server sent: the comparison is of what was on the wire. */
const asSent = { getTypeParser: () => (value: string) => value };

async function answer(client: pg.Client, sql: string): Promise<Answer> {
  try {
    const result = await client.query({ text: sql, rowMode: 'array' });
    return {
      columns: result.fields.map((field) => `${field.name}:${field.dataTypeID}`).join(', '),
      rows: JSON.stringify(result.rows),
    };
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    return { error: `${code ?? '?'} ${message ?? String(error)}` };
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, types: asSent });
  client.on('error', () => {});
  await client.connect();
  return client;
}

const summary: { corpus: string; statements: number; alike: number; differences: unknown[] }[] = [];
const names = readdirSync(corpusDirectory)
  .filter((file) => file.endsWith('.queries.sql'))
  .map((file) => file.slice(0, -'.queries.sql'.length))
  .sort();
for (const name of names) {
  const setupText = readFileSync(join(corpusDirectory, `${name}.setup.sql`), 'utf8');
  const setup = setupText
    .split(/;\s*\n/)
    .map((statement) => statement.trim())
    .filter(Boolean);
  const queries = readFileSync(join(corpusDirectory, `${name}.queries.sql`), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('--'));
  const [northlight, postgres] = [await connect(northlightUrl), await connect(postgresUrl)];
  try {
    for (const statement of setup) {
      for (const [side, client] of [
        ['northlight', northlight],
        ['postgres', postgres],
      ] as const) {
        const result = await answer(client, statement);
        if (result.error !== undefined)
          process.stderr.write(`${name} setup on ${side}: ${result.error}\n  ${statement}\n`);
      }
    }
    const differences: unknown[] = [];
    for (const statement of queries) {
      const [ours, theirs] = [await answer(northlight, statement), await answer(postgres, statement)];
      if (JSON.stringify(ours) === JSON.stringify(theirs)) continue;
      differences.push({ statement, northlight: ours, postgres: theirs });
      process.stderr.write(
        `\n${name}: ${statement}\n  northlight: ${JSON.stringify(ours)}\n  postgres:   ${JSON.stringify(theirs)}\n`,
      );
    }
    summary.push({
      corpus: name,
      statements: queries.length,
      alike: queries.length - differences.length,
      differences,
    });
    process.stderr.write(`\n${name}: ${queries.length - differences.length} of ${queries.length} alike\n`);
  } finally {
    await northlight.end();
    await postgres.end();
  }
}
process.stdout.write(
  `${JSON.stringify(
    process.argv.includes('--json') ? summary : summary.map(({ differences: _, ...rest }) => rest),
    null,
    2,
  )}\n`,
);
