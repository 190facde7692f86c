/**
 * PostgreSQL's EXPLAIN on SQLite's planner. `EXPLAIN stmt` in SQLite lists the statement's bytecode,
 * which tells a PostgreSQL user nothing, and PostgreSQL's own forms (`EXPLAIN ANALYZE stmt`,
 * `EXPLAIN (ANALYZE, FORMAT JSON) stmt`) were syntax errors. Here every PostgreSQL form is read,
 * the statement inside is translated as any other, and SQLite's `EXPLAIN QUERY PLAN` of it is
 * answered as PostgreSQL answers: one column, "QUERY PLAN", a line per plan node in PostgreSQL's
 * tree layout (`->` under a parent), or one JSON document with FORMAT JSON.
 *
 * The nodes are SQLite's (`SCAN orders`, `SEARCH orders USING INDEX orders_customer (customer=?)`,
 * `USE TEMP B-TREE FOR ORDER BY`): SQLite's planner has no cost model it reports, so there are no
 * costs or row estimates. ANALYZE runs the statement, as PostgreSQL does (an `EXPLAIN ANALYZE
 * UPDATE` updates), and adds the rows it returned or changed and its execution time, measured by the
 * wire protocol around the kernel's run of it (queueing for the SQL writer included).
 *
 * Sans-I/O: parsing and formatting only; connection.ts runs the statements.
 */
import type { PgValue, StatementOutcome } from './backend.js';
import { isSignificant, PgSqlError, type Token, word } from './sql.js';

export type ExplainFormat = 'text' | 'json';

export interface ExplainOptions {
  readonly analyze: boolean;
  readonly verbose: boolean;
  readonly format: ExplainFormat;
  /** SUMMARY: the execution-time line (on by default with ANALYZE, as in PostgreSQL). */
  readonly summary: boolean;
  /** TIMING: with ANALYZE, whether the time is measured (PostgreSQL's default: on). */
  readonly timing: boolean;
}

export interface ExplainRequest {
  readonly options: ExplainOptions;
  /** The statement explained, as the client wrote it (tokens after the options). */
  readonly statement: readonly Token[];
}

/** Options PostgreSQL 15 takes that change nothing SQLite could report: read and accepted. */
const ACCEPTED_BOOLEAN_OPTIONS = new Set(['COSTS', 'BUFFERS', 'SETTINGS', 'WAL']);

/**
 * `EXPLAIN [ANALYZE] [VERBOSE] stmt` or `EXPLAIN (option [value], …) stmt`; null when the tokens are
 * not an EXPLAIN. Unknown options are 42601 and unsupported formats 0A000, as PostgreSQL words them.
 */
export function parseExplain(tokens: readonly Token[]): ExplainRequest | null {
  let index = nextSignificant(tokens, 0);
  if (word(tokens[index]) !== 'EXPLAIN') return null;
  index = nextSignificant(tokens, index + 1);
  let analyze = false;
  let verbose = false;
  let format: ExplainFormat = 'text';
  let summary: boolean | undefined;
  let timing = true;
  if (tokens[index]?.text === '(') {
    // The parenthesised list: `option [value]` separated by commas.
    index = nextSignificant(tokens, index + 1);
    for (;;) {
      const name = word(tokens[index]);
      if (name === '') throw syntaxError(tokens[index]);
      index = nextSignificant(tokens, index + 1);
      let value: string | undefined;
      const next = tokens[index];
      if (next !== undefined && next.text !== ',' && next.text !== ')') {
        value = next.kind === 'string' ? (next.value ?? '') : next.text;
        index = nextSignificant(tokens, index + 1);
      }
      if (name === 'FORMAT') {
        const chosen = (value ?? '').toUpperCase();
        if (chosen === 'TEXT') format = 'text';
        else if (chosen === 'JSON') format = 'json';
        else if (chosen === 'YAML' || chosen === 'XML')
          throw new PgSqlError(
            '0A000',
            `EXPLAIN format "${chosen.toLowerCase()}" is not supported by northlight`,
            'Use FORMAT TEXT (the default) or FORMAT JSON.',
          );
        else
          throw new PgSqlError('22023', `unrecognized value for EXPLAIN option "format": "${value ?? ''}"`);
      } else {
        const on = booleanOption(name, value);
        if (name === 'ANALYZE' || name === 'ANALYSE') analyze = on;
        else if (name === 'VERBOSE') verbose = on;
        else if (name === 'SUMMARY') summary = on;
        else if (name === 'TIMING') timing = on;
        else if (!ACCEPTED_BOOLEAN_OPTIONS.has(name))
          throw new PgSqlError('42601', `unrecognized EXPLAIN option "${name.toLowerCase()}"`);
      }
      const separator = tokens[index]?.text;
      index = nextSignificant(tokens, index + 1);
      if (separator === ')') break;
      if (separator !== ',') throw syntaxError(tokens[index - 1]);
    }
  } else {
    // The old form: ANALYZE (or ANALYSE) then VERBOSE, each optional, in that order.
    if (['ANALYZE', 'ANALYSE'].includes(word(tokens[index]))) {
      analyze = true;
      index = nextSignificant(tokens, index + 1);
    }
    if (word(tokens[index]) === 'VERBOSE') {
      verbose = true;
      index = nextSignificant(tokens, index + 1);
    }
  }
  if (!timing && !analyze) throw new PgSqlError('22023', 'EXPLAIN option TIMING requires ANALYZE');
  const statement = tokens.slice(index);
  if (!statement.some(isSignificant)) throw new PgSqlError('42601', 'syntax error at end of input');
  const first = word(statement.find(isSignificant));
  if (!EXPLAINABLE.has(first))
    throw new PgSqlError(
      '42601',
      `syntax error at or near "${statement.find(isSignificant)?.text ?? ''}"`,
      'EXPLAIN takes SELECT, INSERT, UPDATE, DELETE, VALUES, TABLE or WITH.',
    );
  return { options: { analyze, verbose, format, summary: summary ?? analyze, timing }, statement };
}

/** What PostgreSQL lets EXPLAIN take that SQLite can plan (PostgreSQL's list, less its own commands). */
const EXPLAINABLE = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'VALUES', 'TABLE', 'WITH', 'REPLACE']);

function booleanOption(name: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const lowered = value.toLowerCase();
  if (['true', 'on', '1', 'yes'].includes(lowered)) return true;
  if (['false', 'off', '0', 'no'].includes(lowered)) return false;
  throw new PgSqlError('22023', `${name.toLowerCase()} requires a Boolean value`);
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index++;
  return index;
}

function syntaxError(token: Token | undefined): PgSqlError {
  return new PgSqlError(
    '42601',
    token === undefined ? 'syntax error at end of input' : `syntax error at or near "${token.text}"`,
  );
}

/** One node of SQLite's plan, with the nodes under it. */
interface PlanNode {
  readonly detail: string;
  readonly children: PlanNode[];
}

/**
 * SQLite's `EXPLAIN QUERY PLAN` rows (id, parent, notused, detail) as a forest, in their order: a
 * node's parent is the row whose id is its parent (0: the top).
 */
function planForest(rows: readonly (readonly PgValue[])[]): PlanNode[] {
  const top: PlanNode[] = [];
  const byId = new Map<string, PlanNode>();
  for (const row of rows) {
    const node: PlanNode = { detail: String(row[3] ?? ''), children: [] };
    byId.set(String(row[0]), node);
    const parent = byId.get(String(row[1]));
    (parent === undefined ? top : parent.children).push(node);
  }
  return top;
}

/** What ANALYZE measured. */
export interface ExplainAnalysis {
  /** Rows the statement returned, or changed when it returned none. */
  readonly rows: number;
  readonly executionMs: number;
}

/** The column name PostgreSQL gives EXPLAIN's output, and its declared type by format. */
export const EXPLAIN_COLUMN = 'QUERY PLAN';

export function explainDeclaredType(format: ExplainFormat): string {
  return format === 'json' ? 'JSON' : 'TEXT';
}

/**
 * The answer to an EXPLAIN: `plan` is SQLite's EXPLAIN QUERY PLAN outcome, `statementKind` the
 * explained statement's first word, `analysis` what ANALYZE measured (absent without it).
 */
export function explainOutcome(
  plan: StatementOutcome,
  options: ExplainOptions,
  statementKind: string,
  analysis?: ExplainAnalysis,
): StatementOutcome {
  const planned = planForest(plan.rows);
  // SQLite plans no step for some statements (an INSERT of values, a DELETE of every row, which
  // truncates): one node names the statement, so that the plan is never empty.
  const forest = planned.length > 0 ? planned : [{ detail: statementKind, children: [] }];
  const declaredTypes = [explainDeclaredType(options.format)];
  if (options.format === 'json') {
    const node = (each: PlanNode): Record<string, unknown> => ({
      'Node Type': nodeType(each.detail),
      Detail: each.detail,
      ...(each.children.length > 0 ? { Plans: each.children.map(node) } : {}),
    });
    const root: Record<string, unknown> =
      forest.length === 1 ? node(forest[0] as PlanNode) : { 'Node Type': 'Query', Plans: forest.map(node) };
    const document: Record<string, unknown> = {
      Plan: analysis === undefined ? root : { ...root, 'Actual Rows': analysis.rows },
      ...(analysis !== undefined && options.summary && options.timing
        ? { 'Execution Time': round3(analysis.executionMs) }
        : {}),
    };
    return {
      columns: [EXPLAIN_COLUMN],
      rows: [[JSON.stringify([document], null, 2)]],
      changes: 0,
      declaredTypes,
    };
  }
  const lines: string[] = [];
  const walk = (each: PlanNode, depth: number) => {
    lines.push(depth === 0 ? each.detail : `${' '.repeat(6 * depth - 4)}->  ${each.detail}`);
    for (const child of each.children) walk(child, depth + 1);
  };
  for (const each of forest) walk(each, 0);
  if (analysis !== undefined) {
    lines.push(`Actual Rows: ${analysis.rows}`);
    if (options.summary && options.timing)
      lines.push(`Execution Time: ${analysis.executionMs.toFixed(3)} ms`);
  }
  return { columns: [EXPLAIN_COLUMN], rows: lines.map((line) => [line]), changes: 0, declaredTypes };
}

/** A node's kind: SQLite's leading words (`SCAN`, `SEARCH`, `USE TEMP B-TREE`, `MULTI-INDEX OR`…). */
function nodeType(detail: string): string {
  const words: string[] = [];
  for (const each of detail.split(' ')) {
    if (!/^[A-Z][A-Z-]*$/.test(each)) break;
    words.push(each);
  }
  return words.length > 0 ? words.join(' ') : detail;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** What ANALYZE reports as a statement's rows: those it returned, or those it changed if none. */
export function analyzedRows(outcome: StatementOutcome): number {
  return outcome.columns.length > 0 ? outcome.rows.length : outcome.changes;
}
