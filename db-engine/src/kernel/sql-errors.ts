/**
 * How a failed request is reported: SQLite's result code and message, or a refusal of the kernel
 * itself, mapped to a PostgreSQL SQLSTATE (issue 8 puts the PostgreSQL wire protocol in front of the
 * engine, and clients branch on these codes).
 *
 * Pure code. The worker passes in what SQLite said (`sqlite3_extended_errcode`, `sqlite3_errmsg`) and,
 * when the VFS or the session refused something, the `KernelRefusal` that explains it: a BUSY or
 * IOERR from SQLite says nothing about *why* storage was not reachable, the refusal does.
 */

import { postgresOnlyOfSqliteMessage } from '../core/postgres-only.js';
import { JSONPATH_SQLSTATES } from './jsonpath.js';
import { POSTGRES_FUNCTION_SQLSTATES } from './postgres-functions.js';

/** The error half of a reply. */
export interface SqlError {
  /** SQLite's extended result code by name (`SQLITE_CONSTRAINT_UNIQUE`), or `NORTHLIGHT_<REASON>`. */
  readonly code: string;
  /** The PostgreSQL SQLSTATE. */
  readonly sqlstate: string;
  readonly message: string;
  /** What to do instead, when the error has a known remedy (PostgreSQL-only SQL: `../core/postgres-only.ts`). */
  readonly hint?: string;
  /** More about this occurrence (PostgreSQL's DETAIL): the key a foreign key did not find. */
  readonly detail?: string;
  /** Index, in the request, of the statement that failed (absent when the commit itself failed). */
  readonly statementIndex?: number;
}

/** Why the kernel (not SQLite's own rules) made a statement or a commit fail. */
export type KernelRefusal =
  /** COMMIT_ATOMIC_WRITE answered BUSY: the host is not accepting groups (quorum lost, back-pressure). */
  | { readonly kind: 'not-accepting'; readonly reason: string }
  /** The committing group would hold more than `maxGroupPages` pages. */
  | { readonly kind: 'group-too-large'; readonly limitPages: number }
  /** A page could not be read from storage (failure or timeout). */
  | { readonly kind: 'page-read-failed'; readonly pageNo: number; readonly message: string }
  /** The authorizer refused the statement (transaction control, ATTACH, an unsafe PRAGMA…). */
  | { readonly kind: 'not-authorized'; readonly what: string }
  /** The result would exceed `maxResultRows`. */
  | { readonly kind: 'result-too-large'; readonly limitRows: number }
  /** A parameter could not be bound, or the count does not match the statement. */
  | { readonly kind: 'bad-parameters'; readonly message: string }
  /** A write statement in a read-only request. */
  | { readonly kind: 'read-only'; readonly statement: string; readonly replica?: boolean }
  /** Parameters for an entry that holds several statements. */
  | { readonly kind: 'parameters-need-one-statement' };

export const SQLSTATE = {
  syntaxError: '42601',
  undefinedTable: '42P01',
  undefinedColumn: '42703',
  duplicateTable: '42P07',
  duplicateColumn: '42701',
  duplicateObject: '42710',
  ambiguousColumn: '42702',
  undefinedFunction: '42883',
  undefinedObject: '42704',
  groupingError: '42803',
  windowingError: '42P20',
  wrongObjectType: '42809',
  invalidColumnReference: '42P10',
  invalidRecursion: '42P19',
  invalidObjectDefinition: '42P17',
  invalidTableDefinition: '42P16',
  invalidForeignKey: '42830',
  reservedName: '42939',
  generatedAlways: '428C9',
  featureNotSupported: '0A000',
  dependentObjectsStillExist: '2BP01',
  objectNotInPrerequisiteState: '55000',
  numericValueOutOfRange: '22003',
  invalidTextRepresentation: '22P02',
  invalidEscapeSequence: '22025',
  uniqueViolation: '23505',
  notNullViolation: '23502',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
  integrityConstraintViolation: '23000',
  datatypeMismatch: '42804',
  programLimitExceeded: '54000',
  statementTooComplex: '54001',
  tooManyColumns: '54011',
  tooManyArguments: '54023',
  cannotConnectNow: '57P03',
  queryCanceled: '57014',
  ioError: '58030',
  diskFull: '53100',
  dataCorrupted: 'XX001',
  insufficientPrivilege: '42501',
  readOnlySqlTransaction: '25006',
  protocolViolation: '08P01',
  internalError: 'XX000',
} as const;

/** SQLite's primary result codes, by value. */
const primaryCodeNames: readonly string[] = [
  'SQLITE_OK',
  'SQLITE_ERROR',
  'SQLITE_INTERNAL',
  'SQLITE_PERM',
  'SQLITE_ABORT',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_NOMEM',
  'SQLITE_READONLY',
  'SQLITE_INTERRUPT',
  'SQLITE_IOERR',
  'SQLITE_CORRUPT',
  'SQLITE_NOTFOUND',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL',
  'SQLITE_EMPTY',
  'SQLITE_SCHEMA',
  'SQLITE_TOOBIG',
  'SQLITE_CONSTRAINT',
  'SQLITE_MISMATCH',
  'SQLITE_MISUSE',
  'SQLITE_NOLFS',
  'SQLITE_AUTH',
  'SQLITE_FORMAT',
  'SQLITE_RANGE',
  'SQLITE_NOTADB',
  'SQLITE_NOTICE',
  'SQLITE_WARNING',
];

/** The extended codes the mapping looks at, and the common I/O ones worth a name in logs. */
const extendedCodeNames = new Map<number, string>([
  [275, 'SQLITE_CONSTRAINT_CHECK'],
  [531, 'SQLITE_CONSTRAINT_COMMITHOOK'],
  [787, 'SQLITE_CONSTRAINT_FOREIGNKEY'],
  [1043, 'SQLITE_CONSTRAINT_FUNCTION'],
  [1299, 'SQLITE_CONSTRAINT_NOTNULL'],
  [1555, 'SQLITE_CONSTRAINT_PRIMARYKEY'],
  [1811, 'SQLITE_CONSTRAINT_TRIGGER'],
  [2067, 'SQLITE_CONSTRAINT_UNIQUE'],
  [2323, 'SQLITE_CONSTRAINT_VTAB'],
  [2579, 'SQLITE_CONSTRAINT_ROWID'],
  [2835, 'SQLITE_CONSTRAINT_PINNED'],
  [3091, 'SQLITE_CONSTRAINT_DATATYPE'],
  [266, 'SQLITE_IOERR_READ'],
  [522, 'SQLITE_IOERR_SHORT_READ'],
  [778, 'SQLITE_IOERR_WRITE'],
  [1034, 'SQLITE_IOERR_FSYNC'],
  [3082, 'SQLITE_IOERR_NOMEM'],
  [517, 'SQLITE_BUSY_SNAPSHOT'],
]);

const SQLITE_ERROR = 1;
const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;
const SQLITE_NOMEM = 7;
const SQLITE_INTERRUPT = 9;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_TOOBIG = 18;
const SQLITE_CONSTRAINT = 19;
const SQLITE_MISMATCH = 20;
const SQLITE_AUTH = 23;
const SQLITE_RANGE = 25;
const SQLITE_NOTADB = 26;

/** SQLite's name for a (primary or extended) result code. */
export function resultCodeName(resultCode: number): string {
  const extended = extendedCodeNames.get(resultCode);
  if (extended !== undefined) return extended;
  const primary = primaryCodeNames[resultCode & 0xff] ?? `SQLITE_${resultCode & 0xff}`;
  return resultCode > 0xff ? `${primary}_${resultCode >> 8}` : primary;
}

/** The error for a failure SQLite reported, explained by the kernel's refusal when there is one. */
export function sqlErrorFromSqlite(
  resultCode: number,
  sqliteMessage: string,
  refusal: KernelRefusal | undefined,
): { code: string; sqlstate: string; message: string; hint?: string } {
  const primary = resultCode & 0xff;
  // A refusal explains only the codes the kernel makes SQLite return: an unrelated error after a
  // refusal (a later statement's UNIQUE violation) keeps SQLite's own mapping.
  if (refusal !== undefined && refusalExplains(refusal, primary)) return sqlErrorFromRefusal(refusal);
  const code = resultCodeName(resultCode);
  const sqlstate = sqlstateOf(resultCode, sqliteMessage);
  // PostgreSQL-only SQL that reached SQLite unchanged (the HTTP API does not translate): say so, and
  // what to do instead, rather than a bare syntax error.
  const postgresOnly = primary === SQLITE_ERROR ? postgresOnlyOfSqliteMessage(sqliteMessage) : null;
  if (postgresOnly !== null) {
    return {
      code,
      sqlstate: postgresOnly.sqlstate ?? sqlstate,
      message: postgresOnly.message,
      hint: postgresOnly.hint,
    };
  }
  return { code, sqlstate, message: sqliteMessage };
}

function refusalExplains(refusal: KernelRefusal, primary: number): boolean {
  switch (refusal.kind) {
    case 'not-accepting':
    case 'group-too-large':
      return primary === SQLITE_BUSY;
    case 'page-read-failed':
      return primary === SQLITE_BUSY || primary === SQLITE_IOERR;
    case 'not-authorized':
      return primary === SQLITE_AUTH || primary === SQLITE_ERROR;
    case 'result-too-large':
    case 'bad-parameters':
    case 'read-only':
    case 'parameters-need-one-statement':
      return true;
  }
}

/** The error for a refusal of the kernel's own (no SQLite call failed, or it failed because of it). */
export function sqlErrorFromRefusal(refusal: KernelRefusal): {
  code: string;
  sqlstate: string;
  message: string;
} {
  switch (refusal.kind) {
    case 'not-accepting':
      return {
        code: 'NORTHLIGHT_NOT_ACCEPTING_WRITES',
        sqlstate: SQLSTATE.cannotConnectNow,
        message:
          `storage is not accepting writes (${refusal.reason}); the transaction was rolled back and may be ` +
          'retried once storage accepts writes again',
      };
    case 'group-too-large':
      return {
        code: 'NORTHLIGHT_TRANSACTION_TOO_LARGE',
        sqlstate: SQLSTATE.programLimitExceeded,
        message:
          `the transaction changes more than ${refusal.limitPages} pages (maxGroupPages) and was rolled back; ` +
          'split it into smaller transactions',
      };
    case 'page-read-failed':
      return {
        code: 'NORTHLIGHT_PAGE_READ_FAILED',
        sqlstate: SQLSTATE.ioError,
        message: `page ${refusal.pageNo} could not be read from storage: ${refusal.message}`,
      };
    case 'not-authorized':
      return {
        code: 'NORTHLIGHT_NOT_AUTHORIZED',
        sqlstate: SQLSTATE.insufficientPrivilege,
        message: `${refusal.what} is not allowed: the engine runs each request as one transaction over its own storage`,
      };
    case 'result-too-large':
      return {
        code: 'NORTHLIGHT_RESULT_TOO_LARGE',
        sqlstate: SQLSTATE.programLimitExceeded,
        message: `the result has more than ${refusal.limitRows} rows (maxResultRows); add a LIMIT`,
      };
    case 'bad-parameters':
      return {
        code: 'NORTHLIGHT_BAD_PARAMETERS',
        sqlstate: SQLSTATE.protocolViolation,
        message: refusal.message,
      };
    case 'read-only':
      if (refusal.replica === true)
        return {
          code: 'NORTHLIGHT_READ_ONLY_REPLICA',
          sqlstate: SQLSTATE.readOnlySqlTransaction,
          message: `this engine is a read-only replica and cannot run a statement that writes: ${refusal.statement}; send writes to the read-write endpoint (the writer)`,
        };
      return {
        code: 'NORTHLIGHT_READ_ONLY',
        sqlstate: SQLSTATE.readOnlySqlTransaction,
        message: `a read-only request cannot run a statement that writes: ${refusal.statement}`,
      };
    case 'parameters-need-one-statement':
      return {
        code: 'NORTHLIGHT_PARAMETERS_NEED_ONE_STATEMENT',
        sqlstate: SQLSTATE.syntaxError,
        message: 'parameters were given for SQL that holds several statements; send one statement per entry',
      };
  }
}

function sqlstateOf(resultCode: number, message: string): string {
  switch (resultCode) {
    case 1555: // PRIMARYKEY
    case 2067: // UNIQUE
      return SQLSTATE.uniqueViolation;
    case 1299:
      return SQLSTATE.notNullViolation;
    case 275:
      return SQLSTATE.checkViolation;
    case 787:
      return SQLSTATE.foreignKeyViolation;
    case 3091: // DATATYPE (STRICT tables)
      return SQLSTATE.datatypeMismatch;
  }
  switch (resultCode & 0xff) {
    case SQLITE_ERROR:
      return sqlstateOfMessage(message) ?? SQLSTATE.internalError;
    case SQLITE_CONSTRAINT:
      return SQLSTATE.integrityConstraintViolation;
    case SQLITE_MISMATCH:
      return SQLSTATE.datatypeMismatch;
    case SQLITE_TOOBIG:
    case SQLITE_NOMEM:
      return SQLSTATE.programLimitExceeded;
    case SQLITE_INTERRUPT:
      return SQLSTATE.queryCanceled;
    case SQLITE_AUTH:
    case SQLITE_PERM:
      return SQLSTATE.insufficientPrivilege;
    case SQLITE_IOERR:
      return SQLSTATE.ioError;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return SQLSTATE.dataCorrupted;
    case SQLITE_FULL:
      return SQLSTATE.diskFull;
    case SQLITE_RANGE:
      return SQLSTATE.protocolViolation;
  }
  return SQLSTATE.internalError;
}

/**
 * SQLITE_ERROR covers every compile-time error and many run-time ones; only the message tells them
 * apart. Each message below (SQLite's own wording) gets the SQLSTATE PostgreSQL raises for the same
 * mistake, so that clients can branch on the class (42 fix the statement, 22 fix the data, 54 a
 * limit): XX000 says "a bug in the server", and stays for what no rule knows. The first match wins.
 */
const MESSAGE_SQLSTATES: readonly (readonly [RegExp, string])[] = [
  [/syntax error|incomplete input|unrecognized token/, SQLSTATE.syntaxError],
  [/^malformed array literal/, '22P02'],
  // PostgreSQL's functions (postgres-functions.ts), with PostgreSQL's messages.
  ...POSTGRES_FUNCTION_SQLSTATES,
  ...JSONPATH_SQLSTATES,
  // SQLite's JSON functions, which PostgreSQL's json_build_object… become: bad arguments, 22023.
  [
    /^json_object\(\) (requires an even number of arguments|labels must be TEXT)|^json_\w+\(\) (needs|requires) /,
    '22023',
  ],
  // northlight_nonzero (division-checks.ts): PostgreSQL's division_by_zero.
  [/^division by zero$/, '22012'],
  // Objects that do not exist.
  [/^no such (table|view)/, SQLSTATE.undefinedTable],
  [/^no such column|^table \S+ has no column named |^cannot join using column /, SQLSTATE.undefinedColumn],
  [
    /^no such function|^wrong number of arguments to function |^DISTINCT aggregates must have exactly one argument$/,
    SQLSTATE.undefinedFunction,
  ],
  [
    /^no such (index|trigger|collation sequence|module)|^unable to identify the object to be reindexed|^unknown datatype /,
    SQLSTATE.undefinedObject,
  ],
  // Objects that exist already.
  [
    /^(table|index|view) \S+ already exists$|^there is already (another table or index|an index) /,
    SQLSTATE.duplicateTable,
  ],
  [/^trigger \S+ already exists$/, SQLSTATE.duplicateObject],
  [/^duplicate column name/, SQLSTATE.duplicateColumn],
  [/^ambiguous column name/, SQLSTATE.ambiguousColumn],
  // Aggregates and window functions out of place.
  [
    /^misuse of (aliased )?aggregate|^aggregate functions are not allowed|^a GROUP BY clause is required before HAVING|^HAVING clause on a non-aggregate query/,
    SQLSTATE.groupingError,
  ],
  [/^misuse of (aliased )?window function/, SQLSTATE.windowingError],
  [
    /may not be used as a window function$|^FILTER may not be used with non-aggregate|^cannot create (INSTEAD OF trigger on table|BEFORE trigger on view|AFTER trigger on view)/,
    SQLSTATE.wrongObjectType,
  ],
  // Parts of a statement that do not fit together: PostgreSQL reports these as syntax errors.
  [
    /^\d+ values for \d+ columns$|^table \S+ has \d+ columns but \d+ values were supplied$|^SELECTs to the left and right of |^all VALUES must have the same number of terms$|^sub-select returns \d+ columns|^row value misused$|^a NATURAL join may not have an ON or USING clause$|^RAISE\(\) may only be used within a trigger-program$|^missing datatype for /,
    SQLSTATE.syntaxError,
  ],
  [/term out of range - should be between/, SQLSTATE.invalidColumnReference],
  [
    /^multiple references to recursive table|^recursive reference in a subquery|^circular reference/,
    SQLSTATE.invalidRecursion,
  ],
  [/^generated column loop|is circularly defined$/, SQLSTATE.invalidObjectDefinition],
  [/^cannot (INSERT into|UPDATE) generated column/, SQLSTATE.generatedAlways],
  [
    /has more than one primary key$|^PRIMARY KEY missing on table |^AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY$/,
    SQLSTATE.invalidTableDefinition,
  ],
  [/^foreign key mismatch|^number of columns in foreign key does not match/, SQLSTATE.invalidForeignKey],
  [
    /^cannot drop (PRIMARY KEY|UNIQUE) column|^Cannot add a (PRIMARY KEY|UNIQUE) column/,
    SQLSTATE.featureNotSupported,
  ],
  [
    /^index associated with UNIQUE or PRIMARY KEY constraint cannot be dropped$/,
    SQLSTATE.dependentObjectsStillExist,
  ],
  [/^object name reserved for internal use/, SQLSTATE.reservedName],
  [/^table \S+ may not be (dropped|altered|modified)$/, SQLSTATE.insufficientPrivilege],
  // A function the build or the connection refuses (load_extension: extensions are off).
  [/^not authorized$/, SQLSTATE.insufficientPrivilege],
  [/^cannot modify \S+ because it is a view$/, SQLSTATE.objectNotInPrerequisiteState],
  // Values.
  [/^integer overflow$|^hex literal too big/, SQLSTATE.numericValueOutOfRange],
  [/^malformed JSON$/, SQLSTATE.invalidTextRepresentation],
  [/^ESCAPE expression must be a single character$/, SQLSTATE.invalidEscapeSequence],
  [/^datatype mismatch$/, SQLSTATE.datatypeMismatch],
  // Limits.
  [/^too many columns/, SQLSTATE.tooManyColumns],
  [/^too many arguments on function /, SQLSTATE.tooManyArguments],
  [
    /^too many terms in compound SELECT$|^too many FROM clause terms|^Expression tree is too large|^parser stack overflow$|^LIKE or GLOB pattern too complex$|^too many levels of trigger recursion$/,
    SQLSTATE.statementTooComplex,
  ],
  [/^string or blob too big$|^too many /, SQLSTATE.programLimitExceeded],
];

/** The SQLSTATE of a message SQLite reported with SQLITE_ERROR, if a rule knows it. */
function sqlstateOfMessage(message: string): string | undefined {
  for (const [pattern, sqlstate] of MESSAGE_SQLSTATES) if (pattern.test(message)) return sqlstate;
  return undefined;
}
