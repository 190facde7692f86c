/**
 * The `northlight sql` shell's own logic, without a cluster: where statements end (SQLite's rules, as
 * `sqlite3_complete` applies them: quotes, comments, trigger bodies), and how results and errors print
 * (one SQLSTATE, every statement's result). The shell against a running cluster is in
 * up-commands.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { formatSqlError, formatSqlResults, formatSqlValue, splitSqlStatements } from '../src/cli.js';

describe('splitSqlStatements', () => {
  it('splits at semicolons, keeps what follows the last one, and drops empty statements', () => {
    expect(splitSqlStatements('select 1; select 2;')).toEqual({
      statements: ['select 1', 'select 2'],
      rest: '',
      restHasStatement: false,
    });
    expect(splitSqlStatements('select 1;\nselect 2')).toEqual({
      statements: ['select 1'],
      rest: '\nselect 2',
      restHasStatement: true,
    });
    expect(splitSqlStatements(' ;; -- only a comment\n ; /* and another */ ').statements).toEqual([]);
    expect(splitSqlStatements('select 1; -- done\n').restHasStatement).toBe(false);
  });

  it('does not split inside strings, quoted identifiers or comments', () => {
    const text = `select 'a;b', 'it''s;', "c;""d", \`e;f\`, [g;h] -- i;j\n/* k;\nl */ from t; select 2`;
    const split = splitSqlStatements(text);
    expect(split.statements).toEqual([text.slice(0, text.indexOf(' from t;') + ' from t'.length)]);
    expect(split.rest.trim()).toBe('select 2');
    // Unterminated: the statement goes on (a shell waits for more lines).
    expect(splitSqlStatements("select 'a;").restHasStatement).toBe(true);
    expect(splitSqlStatements("select 'a;").statements).toEqual([]);
    expect(splitSqlStatements('/* select 1;').statements).toEqual([]);
  });

  it('keeps a trigger body whole: only the semicolon after its END ends it', () => {
    const trigger =
      'CREATE TEMP TRIGGER IF NOT EXISTS log AFTER INSERT ON t BEGIN\n  INSERT INTO audit VALUES (new.k);\n  UPDATE n SET c = c + 1;\nEND';
    expect(splitSqlStatements(`${trigger}; insert into t values (1);`).statements).toEqual([
      trigger,
      'insert into t values (1)',
    ]);
    expect(splitSqlStatements(`explain ${trigger}; select 1;`).statements).toHaveLength(2);
    // Not a trigger: END is an ordinary word, each semicolon ends a statement.
    expect(splitSqlStatements('select case when 1 then 2 end; select 3;').statements).toHaveLength(2);
    expect(splitSqlStatements('begin; insert into t values (1); end;').statements).toEqual([
      'begin',
      'insert into t values (1)',
      'end',
    ]);
  });
});

describe('the shell output', () => {
  it('prints the SQLSTATE once, then the message and what to do', () => {
    expect(
      formatSqlError({
        code: '42P01',
        sqlstate: '42P01',
        message: 'no such table: nope',
        action: 'fix the statement; nothing was changed',
      }),
    ).toBe('ERROR 42P01: no such table: nope\nHINT: fix the statement; nothing was changed');
    // A northlight code that says more than the SQLSTATE is kept.
    expect(formatSqlError({ code: 'NL_QUORUM_LOST', sqlstate: '57P03', message: 'write quorum lost' })).toBe(
      'ERROR 57P03 (NL_QUORUM_LOST): write quorum lost',
    );
    expect(formatSqlError({ message: 'HTTP 502' })).toBe('ERROR: HTTP 502');
  });

  it("prints every statement's result, in order", () => {
    expect(
      formatSqlResults([
        { columns: [], rows: [], changes: 2 },
        { columns: ['a'], rows: [[1]], changes: 0 },
        {
          columns: ['b', 'c'],
          rows: [
            [null, 'x'],
            [2, 'y'],
          ],
          changes: 0,
        },
      ]),
    ).toBe('OK, 2 rows changed\n\na\n1\n(1 row)\n\nb     c\nNULL  x\n2     y\n(2 rows)');
  });
});

describe('formatSqlValue', () => {
  it('prints a tagged BLOB as psql does, a tagged big integer as its digits, NULL as NULL', () => {
    expect(formatSqlValue({ bytes: '00ff' })).toBe('\\x00ff');
    expect(formatSqlValue({ integer: '9007199254740993' })).toBe('9007199254740993');
    expect(formatSqlValue(null)).toBe('NULL');
    expect(formatSqlValue(1.5)).toBe('1.5');
    expect(formatSqlValue('AP8=')).toBe('AP8=');
  });
});
