/**
 * COPY's data formats, text and CSV, as PostgreSQL reads and writes them
 * (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9). Pure: CopyData bytes in,
 * rows of field texts out (`CopyDecoder`), and rows of values in, lines out (`encodeCopyRow`).
 *
 * Text format: one row per line, fields separated by the delimiter (tab), `\N` for NULL (matched
 * before backslash processing, as PostgreSQL does), and backslash escapes `\b \f \n \r \t \v`,
 * `\digits` (octal byte), `\xhex` (hex byte), `\` + any other character for that character (so
 * `\\` and an escaped delimiter); octal and hex bytes must together form UTF-8.
 * CSV: fields separated by the delimiter (`,`), quoted with QUOTE (`"`) where they hold the
 * delimiter, a quote or a line break, a quote inside a quoted field doubled (or preceded by ESCAPE);
 * an unquoted field equal to the NULL string (empty by default) is NULL, a quoted one never is
 * (unless FORCE_NULL), and FORCE_NOT_NULL reads an unquoted NULL string as the value it is. A quoted
 * field may span lines.
 * Both: lines end with `\n` or `\r\n`; a line holding only `\.` ends the data (the rest is ignored);
 * a last line without a line break is a row.
 *
 * The decoder is streaming: a CopyData message may end anywhere (mid-character, mid-field,
 * mid-row), and it holds at most one incomplete row, bounded by COPY_ROW_CHARS_MAX.
 */

export type CopyFormat = 'text' | 'csv';

/** Columns a FORCE_… option names, or every column (`*`). */
export type ColumnSelection = readonly string[] | '*';

export interface CopyOptions {
  readonly format: CopyFormat;
  /** One character. */
  readonly delimiter: string;
  readonly nullString: string;
  readonly header: 'none' | 'present' | 'match';
  /** CSV: one character each. */
  readonly quote: string;
  readonly escape: string;
  /** CSV, COPY TO: quote these columns' non-NULL values always. */
  readonly forceQuote: ColumnSelection;
  /** CSV, COPY FROM: these columns' unquoted NULL strings are values. */
  readonly forceNotNull: ColumnSelection;
  /** CSV, COPY FROM: these columns' quoted NULL strings are NULL too. */
  readonly forceNull: ColumnSelection;
}

export function defaultCopyOptions(format: CopyFormat): CopyOptions {
  return {
    format,
    delimiter: format === 'csv' ? ',' : '\t',
    nullString: format === 'csv' ? '' : '\\N',
    header: 'none',
    quote: '"',
    escape: '"',
    forceQuote: [],
    forceNotNull: [],
    forceNull: [],
  };
}

/** Bound on one row of input (its characters, across lines for CSV): a row longer fails with 54000. */
export const COPY_ROW_CHARS_MAX = 32 * 1024 * 1024;
/** How much of a bad row the error's CONTEXT shows (PostgreSQL's MAX_COPY_DATA_DISPLAY). */
const CONTEXT_CHARS_MAX = 100;

/** A row that cannot be read: 22P02/22P04/22021/54000, with its line for the CONTEXT. */
export class CopyDataError extends Error {
  override readonly name = 'CopyDataError';
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly line: number,
    /** The row's text as read (possibly cut short), or null when there is none to show. */
    readonly rowText: string | null,
    readonly hint?: string,
    /** A value its column's type does not read: PostgreSQL's CONTEXT names the column. */
    readonly field?: { readonly column: string; readonly value: string },
  ) {
    super(message);
  }

  /** PostgreSQL's CONTEXT: `COPY t, line 3: "1,2,3"`, or `COPY t, line 3, column a: "x"`. */
  context(table: string): string {
    if (this.field !== undefined) {
      return `COPY ${table}, line ${this.line}, column ${this.field.column}: "${shorten(this.field.value)}"`;
    }
    return copyContext(table, this.line, this.rowText);
  }
}

function shorten(text: string): string {
  return text.length > CONTEXT_CHARS_MAX ? `${text.slice(0, CONTEXT_CHARS_MAX)}...` : text;
}

/** A row as read: field texts (null for NULL), and the line it starts on. */
export interface CopyRow {
  readonly fields: readonly (string | null)[];
  readonly line: number;
}

/** PostgreSQL's CONTEXT for a row: `COPY t, line 3: "1,2,3"` (the row cut at 100 characters). */
export function copyContext(table: string, line: number, rowText: string | null): string {
  return rowText === null
    ? `COPY ${table}, line ${line}`
    : `COPY ${table}, line ${line}: "${shorten(rowText)}"`;
}

function selects(selection: ColumnSelection, column: string): boolean {
  return selection === '*' || selection.some((name) => name.toLowerCase() === column.toLowerCase());
}

/** Text format: the value of one field's raw text (backslash escapes resolved). */
function unescapeText(raw: string, line: number, rowText: string): string {
  if (!raw.includes('\\')) return raw;
  let value = '';
  /** Bytes of octal/hex escapes, decoded as UTF-8 once the run of them ends. */
  let bytes: number[] = [];
  const flushBytes = () => {
    if (bytes.length === 0) return;
    value += decodeEscapedBytes(bytes, line, rowText);
    bytes = [];
  };
  let index = 0;
  while (index < raw.length) {
    const char = raw[index] as string;
    if (char !== '\\' || index + 1 >= raw.length) {
      flushBytes();
      value += char;
      index += 1;
      continue;
    }
    const next = raw[index + 1] as string;
    const octal = /^[0-7]{1,3}/.exec(raw.slice(index + 1, index + 4));
    if (octal !== null) {
      bytes.push(Number.parseInt(octal[0], 8) & 0xff);
      index += 1 + octal[0].length;
      continue;
    }
    const hex = next === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(raw.slice(index + 2, index + 4)) : null;
    if (hex !== null) {
      bytes.push(Number.parseInt(hex[0], 16));
      index += 2 + hex[0].length;
      continue;
    }
    flushBytes();
    value += textEscapes[next] ?? next;
    index += 2;
  }
  flushBytes();
  return value;
}

const textEscapes: Readonly<Record<string, string>> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeEscapedBytes(bytes: readonly number[], line: number, rowText: string): string {
  if (bytes.includes(0)) {
    throw new CopyDataError('22021', 'invalid byte sequence for encoding "UTF8": 0x00', line, rowText);
  }
  try {
    return strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    const shown = bytes.map((byte) => `0x${byte.toString(16).padStart(2, '0')}`).join(' ');
    throw new CopyDataError('22021', `invalid byte sequence for encoding "UTF8": ${shown}`, line, rowText);
  }
}

/** Text format: splits a line at unescaped delimiters into raw field texts. */
function splitTextLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let start = 0;
  let index = 0;
  while (index < line.length) {
    const char = line[index] as string;
    if (char === '\\') {
      index += 2;
      continue;
    }
    if (char === delimiter) {
      fields.push(line.slice(start, index));
      start = index + 1;
    }
    index += 1;
  }
  fields.push(line.slice(start));
  return fields;
}

/** CSV: the state of the row being read, kept across lines (a quoted field may span them). */
interface CsvRow {
  fields: (string | null)[];
  value: string;
  /** The current field had a quoted part. */
  quoted: boolean;
  inQuote: boolean;
}

function newCsvRow(): CsvRow {
  return { fields: [], value: '', quoted: false, inQuote: false };
}

/**
 * Streaming reader of COPY FROM data. `push` takes CopyData bytes and returns the rows they
 * complete; `finish` (CopyDone) returns the last row. Throws CopyDataError for a bad row.
 */
export class CopyDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  /** Characters of the current, incomplete line. */
  private pending = '';
  /** Physical lines read so far. */
  private lineNumber = 0;
  private headerSkipped = false;
  private ended = false;
  /** CSV: the row in progress, its first line and its text so far (for the CONTEXT). */
  private csvRow: CsvRow = newCsvRow();
  private csvRowLine = 0;
  /** The row's first characters (enough for the CONTEXT), and how many it has in all. */
  private csvRowText = '';
  private csvRowChars = 0;
  private readonly forceNotNull: readonly boolean[];
  private readonly forceNull: readonly boolean[];

  constructor(
    private readonly options: CopyOptions,
    /** The target columns, in order: a row must have exactly these fields. */
    private readonly columns: readonly string[],
  ) {
    this.forceNotNull = columns.map((name) => selects(options.forceNotNull, name));
    this.forceNull = columns.map((name) => selects(options.forceNull, name));
  }

  /** The end-of-data marker `\.` was read: everything after it is ignored. */
  get sawEndMarker(): boolean {
    return this.ended;
  }

  /** The text of `bytes` (undefined: the end of the input), or 22021 naming the line it is in. */
  #decode(bytes: Uint8Array | undefined): string {
    try {
      return bytes === undefined ? this.utf8.decode() : this.utf8.decode(bytes, { stream: true });
    } catch {
      throw new CopyDataError(
        '22021',
        'invalid byte sequence for encoding "UTF8"',
        this.lineNumber + 1,
        null,
      );
    }
  }

  push(bytes: Uint8Array): CopyRow[] {
    if (this.ended) return [];
    return this.readLines(this.#decode(bytes), false);
  }

  finish(): CopyRow[] {
    if (this.ended) return [];
    const rows = this.readLines(this.#decode(undefined), true);
    if (this.options.format === 'csv' && this.csvRow.inQuote && !this.ended) {
      throw new CopyDataError('22P04', 'unterminated CSV quoted field', this.csvRowLine, this.csvRowText);
    }
    return rows;
  }

  private readLines(text: string, last: boolean): CopyRow[] {
    const rows: CopyRow[] = [];
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline < 0) break;
      const line = this.pending + text.slice(start, newline);
      this.pending = '';
      start = newline + 1;
      if (this.options.format === 'text' && endsWithOddBackslashes(line)) {
        // `\` before a line break: the break is data (PostgreSQL still reads this old form).
        this.pending = `${line}\n`;
        this.checkRowLength(this.pending.length);
        continue;
      }
      this.readLine(line, rows);
      if (this.ended) return rows;
    }
    this.pending += text.slice(start);
    this.checkRowLength(this.pending.length + this.csvRowChars);
    if (last && this.pending !== '') {
      const line = this.pending;
      this.pending = '';
      this.readLine(line, rows);
    }
    return rows;
  }

  private checkRowLength(chars: number): void {
    if (chars > COPY_ROW_CHARS_MAX) {
      throw new CopyDataError(
        '54000',
        `a COPY row of more than ${COPY_ROW_CHARS_MAX} characters exceeds the limit`,
        this.lineNumber + 1,
        null,
      );
    }
  }

  /** One physical line, without its `\n`. */
  private readLine(rawLine: string, rows: CopyRow[]): void {
    this.lineNumber += 1;
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const csv = this.options.format === 'csv';
    if (line === '\\.' && !(csv && this.csvRow.inQuote)) {
      this.ended = true;
      return;
    }
    if (csv) {
      this.readCsvLine(rawLine, rows);
      return;
    }
    if (line.includes('\r')) {
      throw new CopyDataError(
        '22P04',
        'literal carriage return found in data',
        this.lineNumber,
        line,
        'Use "\\r" to represent carriage return.',
      );
    }
    const raw = splitTextLine(line, this.options.delimiter);
    if (
      this.takeHeader(
        raw.map((field) => unescapeText(field, this.lineNumber, line)),
        line,
      )
    )
      return;
    const nullString = this.options.nullString;
    const fields = raw.map((field) =>
      field === nullString ? null : unescapeText(field, this.lineNumber, line),
    );
    rows.push({ fields: this.checkFieldCount(fields, line, this.lineNumber), line: this.lineNumber });
  }

  /** The first line is the header when HEADER is on: skipped, or checked against the columns (MATCH). */
  private takeHeader(fields: readonly (string | null)[], rowText: string): boolean {
    if (this.options.header === 'none' || this.headerSkipped) return false;
    this.headerSkipped = true;
    if (this.options.header === 'present') return true;
    if (fields.length !== this.columns.length) {
      throw new CopyDataError(
        '22P04',
        `wrong number of fields in header line: got ${fields.length}, expected ${this.columns.length}`,
        this.lineNumber,
        rowText,
      );
    }
    for (const [index, expected] of this.columns.entries()) {
      const got = fields[index] ?? null;
      if (got === null || got !== expected) {
        throw new CopyDataError(
          '22P04',
          got === null
            ? `column name mismatch in header line field ${index + 1}: got null value ("${this.options.nullString}"), expected "${expected}"`
            : `column name mismatch in header line field ${index + 1}: got "${got}", expected "${expected}"`,
          this.lineNumber,
          rowText,
        );
      }
    }
    return true;
  }

  private checkFieldCount(fields: (string | null)[], rowText: string, line: number): (string | null)[] {
    if (fields.length > this.columns.length) {
      throw new CopyDataError('22P04', 'extra data after last expected column', line, rowText);
    }
    if (fields.length < this.columns.length) {
      const missing = this.columns[fields.length] as string;
      throw new CopyDataError('22P04', `missing data for column "${missing}"`, line, rowText);
    }
    return fields;
  }

  /** CSV: one physical line (with its `\r` if any), continuing the row in progress. */
  private readCsvLine(rawLine: string, rows: CopyRow[]): void {
    const row = this.csvRow;
    const shown = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (row.inQuote) {
      this.csvRowChars += rawLine.length + 1;
      this.checkRowLength(this.csvRowChars);
      if (this.csvRowText.length <= CONTEXT_CHARS_MAX)
        this.csvRowText += `\n${shown}`.slice(0, CONTEXT_CHARS_MAX + 1);
    } else {
      this.csvRowLine = this.lineNumber;
      this.csvRowChars = rawLine.length;
      this.csvRowText = shown.slice(0, CONTEXT_CHARS_MAX + 1);
    }
    const { delimiter, quote, escape: escapeChar } = this.options;
    const length = rawLine.length;
    for (let index = 0; index < length; index++) {
      const char = rawLine[index] as string;
      if (row.inQuote) {
        if (
          char === escapeChar &&
          index + 1 < length &&
          (rawLine[index + 1] === quote || rawLine[index + 1] === escapeChar)
        ) {
          row.value += rawLine[index + 1];
          index += 1;
        } else if (char === quote) {
          row.inQuote = false;
        } else {
          row.value += char;
        }
        continue;
      }
      if (char === delimiter) {
        this.endCsvField(row);
      } else if (char === quote) {
        row.inQuote = true;
        row.quoted = true;
      } else if (char === '\r' && index === length - 1) {
        // `\r\n` ends the line.
      } else if (char === '\r') {
        throw new CopyDataError(
          '22P04',
          'unquoted carriage return found in data',
          this.lineNumber,
          this.csvRowText,
          'Use quoted CSV field to represent carriage return.',
        );
      } else {
        row.value += char;
      }
    }
    if (row.inQuote) {
      row.value += '\n';
      return;
    }
    this.endCsvField(row);
    this.csvRow = newCsvRow();
    if (this.takeHeader(row.fields, this.csvRowText)) return;
    rows.push({
      fields: this.checkFieldCount(row.fields, this.csvRowText, this.csvRowLine),
      line: this.csvRowLine,
    });
  }

  private endCsvField(row: CsvRow): void {
    const column = row.fields.length;
    const isNullString = row.value === this.options.nullString;
    const isNull =
      isNullString && (row.quoted ? this.forceNull[column] === true : this.forceNotNull[column] !== true);
    row.fields.push(isNull ? null : row.value);
    row.value = '';
    row.quoted = false;
  }
}

function endsWithOddBackslashes(line: string): boolean {
  let count = 0;
  for (let index = line.length - 1; index >= 0 && line[index] === '\\'; index--) count += 1;
  return count % 2 === 1;
}

// ---------------------------------------------------------------------------------------------
// COPY TO.

const textOutputEscapes: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

/** Text format: a value with backslash, control characters and the delimiter escaped. */
function escapeText(value: string, delimiter: string): string {
  let out = '';
  let start = 0;
  for (let index = 0; index < value.length; index++) {
    const char = value[index] as string;
    const escaped = textOutputEscapes[char] ?? (char === delimiter ? `\\${char}` : undefined);
    if (escaped === undefined) continue;
    out += value.slice(start, index) + escaped;
    start = index + 1;
  }
  return start === 0 ? value : out + value.slice(start);
}

/**
 * CSV: a value quoted when it must be (it holds the delimiter, the quote, a line break; it equals the
 * NULL string; it is `\.` alone on its line) or when forced, quotes and escapes inside escaped.
 */
function quoteCsv(value: string, options: CopyOptions, forced: boolean, single: boolean): string {
  const { delimiter, quote, escape: escapeChar } = options;
  let mustQuote = forced || value === options.nullString || (single && value === '\\.');
  if (!mustQuote) {
    for (const char of value) {
      if (char === delimiter || char === quote || char === '\n' || char === '\r') {
        mustQuote = true;
        break;
      }
    }
  }
  if (!mustQuote) return value;
  let out = quote;
  for (const char of value) {
    if (char === quote || char === escapeChar) out += escapeChar;
    out += char;
  }
  return out + quote;
}

/** One row of COPY TO output, with its `\n`; `values` are PostgreSQL's text of each value (null: NULL). */
export function encodeCopyRow(
  values: readonly (string | null)[],
  options: CopyOptions,
  forceQuote: readonly boolean[],
): string {
  const single = values.length === 1;
  const fields = values.map((value, index) => {
    if (value === null) return options.nullString;
    return options.format === 'csv'
      ? quoteCsv(value, options, forceQuote[index] === true, single)
      : escapeText(value, options.delimiter);
  });
  return `${fields.join(options.delimiter)}\n`;
}

/** The header line of COPY TO: the column names, as a row of values (never forced into quotes). */
export function encodeCopyHeader(columns: readonly string[], options: CopyOptions): string {
  return encodeCopyRow(
    columns,
    options,
    columns.map(() => false),
  );
}

/** Which of `columns` FORCE_QUOTE names. */
export function forceQuoteFlags(columns: readonly string[], options: CopyOptions): boolean[] {
  return columns.map((name) => options.format === 'csv' && selects(options.forceQuote, name));
}
