/**
 * COPY FROM's rows into SQLite: each field's text typed for its column, and rows gathered into
 * multi-row `INSERT … VALUES (?, …), (?, …)` statements with bound parameters.
 *
 * A column's kind comes from its declared type (`PRAGMA table_info`), by SQLite's affinity rules
 * (https://sqlite.org/datatype3.html#determination_of_column_affinity) with PostgreSQL's booleans
 * and bytea added, and a field is checked as PostgreSQL's input function for that type would check
 * it, so a bad value is 22P02 naming the line and column, as PostgreSQL reports it:
 * - INTEGER affinity (a type containing INT): an integer in 64 bits (22P02, 22003 beyond);
 * - REAL affinity (REAL, FLOA, DOUB): a float (`Infinity` too; `NaN` is 0A000: SQLite stores NULL);
 * - NUMERIC, DECIMAL: a number, bound as its text so NUMERIC affinity keeps it exact where it can;
 * - BOOL, BOOLEAN: PostgreSQL's boolean input (`t`, `true`, `yes`, `on`, `1`…) → 1/0;
 * - BYTEA, BLOB: PostgreSQL's bytea input (`\x…` hex, or the escape format) → a BLOB;
 * - anything else (TEXT, VARCHAR, dates, no type…): the text as it is.
 */
import type { PgParam } from './backend.js';
import { CopyDataError, type CopyRow } from './copy-format.js';
import { quoteIdentifier } from './copy-statement.js';
import { decodeByteaText, PgValueError } from './types.js';

export type CopyColumnKind = 'integer' | 'real' | 'numeric' | 'boolean' | 'bytea' | 'text';

export interface CopyColumn {
  readonly name: string;
  readonly kind: CopyColumnKind;
  /** PostgreSQL's name for the type, for messages (`integer`, `double precision`…). */
  readonly typeName: string;
}

/** Rows per INSERT at most (fewer for wide tables: see SQLITE_PARAMETERS_MAX). */
export const COPY_BATCH_ROWS_MAX = 500;
/** Field characters per INSERT at most, so a batch of long rows stays small in memory. */
export const COPY_BATCH_CHARS_MAX = 2 * 1024 * 1024;
/** SQLite's SQLITE_MAX_VARIABLE_NUMBER (its default since 3.32): parameters per statement. */
export const SQLITE_PARAMETERS_MAX = 32_766;

export function copyColumn(name: string, declaredType: string): CopyColumn {
  const type = declaredType.toUpperCase();
  if (/^BOOL(EAN)?\b/.test(type)) return { name, kind: 'boolean', typeName: 'boolean' };
  if (/^BYTEA\b|^BLOB\b/.test(type)) return { name, kind: 'bytea', typeName: 'bytea' };
  if (type.includes('INT')) {
    const typeName = /^(SMALLINT|INT2)\b/.test(type)
      ? 'smallint'
      : /^(BIGINT|INT8)\b/.test(type)
        ? 'bigint'
        : 'integer';
    return { name, kind: 'integer', typeName };
  }
  if (type.includes('CHAR') || type.includes('CLOB') || type.includes('TEXT') || type === '') {
    return { name, kind: 'text', typeName: 'text' };
  }
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) {
    return {
      name,
      kind: 'real',
      typeName: type.startsWith('REAL') || type.startsWith('FLOAT4') ? 'real' : 'double precision',
    };
  }
  if (type.startsWith('NUMERIC') || type.startsWith('DECIMAL'))
    return { name, kind: 'numeric', typeName: 'numeric' };
  return { name, kind: 'text', typeName: 'text' };
}

const integerText = /^\s*[+-]?\d+\s*$/;
const numberText = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

function invalid(column: CopyColumn, text: string): PgValueError {
  return new PgValueError('22P02', `invalid input syntax for type ${column.typeName}: "${text}"`);
}

/** One field's value for its column (see the file header); throws PgValueError. */
export function copyValue(text: string, column: CopyColumn): PgParam {
  switch (column.kind) {
    case 'text':
      return text;
    case 'integer': {
      if (!integerText.test(text)) throw invalid(column, text);
      const value = BigInt(text.trim());
      if (value < INT8_MIN || value > INT8_MAX) {
        throw new PgValueError('22003', `value "${text}" is out of range for type ${column.typeName}`);
      }
      return value;
    }
    case 'real': {
      const lower = text.trim().toLowerCase();
      if (lower === 'nan') throw new PgValueError('0A000', 'NaN cannot be stored: SQLite stores NULL for it');
      if (/^[+]?(infinity|inf)$/.test(lower)) return Number.POSITIVE_INFINITY;
      if (/^-(infinity|inf)$/.test(lower)) return Number.NEGATIVE_INFINITY;
      if (!numberText.test(text)) throw invalid(column, text);
      return Number(text.trim());
    }
    case 'numeric':
      if (!numberText.test(text)) throw invalid(column, text);
      return text.trim();
    case 'boolean': {
      const value = text.trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', 'on', '1'].includes(value)) return 1n;
      if (['f', 'false', 'n', 'no', 'off', '0'].includes(value)) return 0n;
      throw invalid(column, text);
    }
    case 'bytea':
      return decodeByteaText(text);
  }
}

/** One INSERT's worth of rows, ready to run. */
export interface CopyBatch {
  readonly sql: string;
  readonly params: readonly PgParam[];
  readonly rowCount: number;
  readonly firstLine: number;
  readonly lastLine: number;
}

/** Gathers typed rows into batches (bounded by rows, parameters and characters). */
export class CopyBatcher {
  private params: PgParam[] = [];
  private rows = 0;
  private chars = 0;
  private firstLine = 0;
  private lastLine = 0;
  readonly rowsPerBatchMax: number;
  /** The INSERT of a full batch, built once (the kernel caches its prepared statement). */
  private readonly fullSql: string;

  constructor(
    /** The table as SQLite takes it, and as messages show it. */
    private readonly tableSql: string,
    private readonly tableName: string,
    readonly columns: readonly CopyColumn[],
  ) {
    this.rowsPerBatchMax = Math.max(
      1,
      Math.min(COPY_BATCH_ROWS_MAX, Math.floor(SQLITE_PARAMETERS_MAX / columns.length)),
    );
    this.fullSql = this.insertSql(this.rowsPerBatchMax);
  }

  get pendingRows(): number {
    return this.rows;
  }

  /** A full batch is waiting: take it before adding more. */
  get full(): boolean {
    return this.rows >= this.rowsPerBatchMax || this.chars >= COPY_BATCH_CHARS_MAX;
  }

  /** Types a row's fields for their columns; a bad value is a CopyDataError naming line and column. */
  add(row: CopyRow): void {
    if (this.rows === 0) this.firstLine = row.line;
    this.lastLine = row.line;
    for (const [index, field] of row.fields.entries()) {
      const column = this.columns[index] as CopyColumn;
      if (field === null) {
        this.params.push(null);
        continue;
      }
      this.chars += field.length;
      try {
        this.params.push(copyValue(field, column));
      } catch (error) {
        if (!(error instanceof PgValueError)) throw error;
        throw new CopyDataError(error.sqlstate, error.message, row.line, null, undefined, {
          column: column.name,
          value: field,
        });
      }
    }
    this.rows += 1;
  }

  /** The rows gathered so far as one INSERT (null when there are none). */
  take(): CopyBatch | null {
    if (this.rows === 0) return null;
    const batch: CopyBatch = {
      sql: this.rows === this.rowsPerBatchMax ? this.fullSql : this.insertSql(this.rows),
      params: this.params,
      rowCount: this.rows,
      firstLine: this.firstLine,
      lastLine: this.lastLine,
    };
    this.params = [];
    this.rows = 0;
    this.chars = 0;
    return batch;
  }

  private insertSql(rows: number): string {
    const width = this.columns.length;
    const values = Array.from(
      { length: rows },
      (_, row) => `(${this.columns.map((_column, index) => `?${row * width + index + 1}`).join(', ')})`,
    );
    const names = this.columns.map((column) => quoteIdentifier(column.name)).join(', ');
    return `INSERT INTO ${this.tableSql} (${names}) VALUES ${values.join(', ')}`;
  }

  /** The CONTEXT of a batch that failed in SQLite (a constraint): which rows it held. */
  batchContext(batch: CopyBatch): string {
    return batch.firstLine === batch.lastLine
      ? `COPY ${this.tableName}, line ${batch.firstLine}`
      : `COPY ${this.tableName}, one of lines ${batch.firstLine} to ${batch.lastLine} (inserted together)`;
  }
}
