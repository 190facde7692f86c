// jsonb's containment, existence and path operators (`@>`, `<@`, `?`, `?|`, `?&`, `#>`, `#>>`) and
// PostgreSQL's functions of the same names, on the engine's own kernel through node-postgres
// (src/core/pgwire/jsonb-operators.ts, src/kernel/jsonb-functions.ts). Before them each operator was
// SQLite's `unrecognized token`. Every expected row below is what PostgreSQL 15.18 answered to the
// same statement, except where a comment says why northlight answers otherwise.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import { Oid } from '../../src/core/pgwire/types.js';
import { jsonbContains } from '../../src/kernel/jsonb-functions.js';
import { startKernelSessions } from './support/kernel-backend.js';

const facts = { serverVersion: '15.0', database: 'app', user: 'ann', processId: 7 };

/** [a, b, a @> b] */
const CONTAINMENT: readonly (readonly [string, string, 't' | 'f'])[] = [
  ['{"a":1,"b":{"c":[1,2]}}', '{"b":{"c":[2]}}', 't'],
  ['{"a":1}', '{"a":1.0}', 't'],
  ['{"a":1}', '{"a":"1"}', 'f'],
  ['[1,2,3]', '[3,1,1]', 't'],
  ['[1,2,[1,3]]', '[1,3]', 'f'],
  ['[1,2,[1,3]]', '[[1,3]]', 't'],
  ['["foo","bar"]', '"foo"', 't'],
  ['"foo"', '["foo"]', 'f'],
  ['"foo"', '"foo"', 't'],
  ['{"foo":{"bar":"baz"}}', '{"bar":"baz"}', 'f'],
  ['{"a":[{"x":1,"y":2}]}', '{"a":[{"x":1}]}', 't'],
  ['[]', '[]', 't'],
  ['{}', '{}', 't'],
  ['[{"a":1}]', '{"a":1}', 'f'],
  ['{"a":null}', '{"a":null}', 't'],
  ['{"a":[]}', '{"a":{}}', 'f'],
  ['1', '[1]', 'f'],
  ['[true,null]', '[null]', 't'],
];

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

describe('jsonb operators and functions, through node-postgres', () => {
  let sessions: Awaited<ReturnType<typeof startKernelSessions>>;
  let client: pg.Client;

  beforeAll(async () => {
    sessions = await startKernelSessions();
    // Text as sent, so that the test sees the server's output and types, not node-postgres's parsing.
    client = await sessions.connect({ types: { getTypeParser: () => (value: string) => value } });
    await client.query('CREATE TABLE docs (id integer PRIMARY KEY, data jsonb NOT NULL)');
    await client.query(
      `INSERT INTO docs VALUES (1, '{"status":"active","tags":["a","b"],"owner":{"name":"ann","teams":[1,2]}}'), ` +
        `(2, '{"status":"done","tags":["b"],"owner":{"name":"bo","teams":[2]}}'), (3, '{"status":"active","tags":[]}')`,
    );
  });

  afterAll(async () => {
    await sessions?.stop();
  });

  async function answer(sql: string, values?: unknown[]): Promise<{ types: number[]; rows: unknown[][] }> {
    const result = await client.query({ text: sql, rowMode: 'array', ...(values ? { values } : {}) });
    return { types: result.fields.map((field) => field.dataTypeID), rows: result.rows };
  }

  it('@> and <@: containment as PostgreSQL decides it, typed bool', async () => {
    const values = CONTAINMENT.map(([a, b]) => `(${sqlString(a)}, ${sqlString(b)})`).join(', ');
    const result = await answer(
      `SELECT a, b, a::jsonb @> b::jsonb AS contains, b::jsonb <@ a::jsonb AS contained FROM (VALUES ${values}) v(a, b)`,
    );
    expect(result.types.slice(2)).toEqual([Oid.bool, Oid.bool]);
    expect(result.rows).toEqual(CONTAINMENT.map(([a, b, contains]) => [a, b, contains, contains]));
    // The pure function agrees (the same table, without SQL around it).
    for (const [a, b, contains] of CONTAINMENT)
      expect(jsonbContains(JSON.parse(a), JSON.parse(b)), `${a} @> ${b}`).toBe(contains === 't');
  });

  it('keeps the declared types of the other columns of a statement using them', async () => {
    // The declared-types probe reads the kernel's jsonb functions as untyped calls; a probe that
    // failed on them would type every column by its values (id: int8, where PostgreSQL says int4).
    const result = await answer(
      `SELECT id, data ? 'tags' AS has, data #>> '{status}' AS status FROM docs WHERE data @> '{"status":"done"}'`,
    );
    expect(result.types).toEqual([Oid.int4, Oid.bool, Oid.text]);
    expect(result.rows).toEqual([['2', 't', 'done']]);
  });

  it('filters rows with @>, ?, ?| and ?& on a column, with literals and node-postgres parameters', async () => {
    expect(
      (await answer(`SELECT id FROM docs WHERE data @> '{"status":"active"}' ORDER BY id`)).rows,
    ).toEqual([['1'], ['3']]);
    expect(
      (
        await answer('SELECT id FROM docs WHERE data @> $1 ORDER BY id', [
          JSON.stringify({ owner: { teams: [2] } }),
        ])
      ).rows,
    ).toEqual([['1'], ['2']]);
    expect((await answer(`SELECT id FROM docs WHERE data -> 'tags' ? 'a'`)).rows).toEqual([['1']]);
    expect(
      (await answer(`SELECT id FROM docs WHERE data ? 'owner' AND NOT data ? 'nope' ORDER BY id`)).rows,
    ).toEqual([['1'], ['2']]);
    // node-postgres sends a JavaScript array as the text array `{a,z}`.
    expect(
      (await answer('SELECT id FROM docs WHERE data -> $1 ?| $2 ORDER BY id', ['tags', ['a', 'z']])).rows,
    ).toEqual([['1']]);
    expect((await answer(`SELECT id FROM docs WHERE data -> 'tags' ?& '{a,b}' ORDER BY id`)).rows).toEqual([
      ['1'],
    ]);
    expect((await answer(`SELECT id FROM docs WHERE data <@ '{"status":"active","tags":[]}'`)).rows).toEqual([
      ['3'],
    ]);
  });

  it('@? and @@ and the jsonb_path functions: SQL/JSON paths as PostgreSQL answers them', async () => {
    const ids = async (sql: string, values?: unknown[]) =>
      (await answer(sql, values)).rows.map((row) => row[0]).join(',');
    expect(await ids(`SELECT id FROM docs WHERE data @? '$.owner.teams[*] ? (@ > 1)' ORDER BY id`)).toBe(
      '1,2',
    );
    expect(await ids(`SELECT id FROM docs WHERE data @@ '$.tags.size() > 0' ORDER BY id`)).toBe('1,2');
    // Strict mode's missing key in row 3 is suppressed, as the operators do.
    expect(await ids(`SELECT id FROM docs WHERE data @@ 'strict $.owner.name == "bo"' ORDER BY id`)).toBe(
      '2',
    );
    expect(
      (await answer(`SELECT id, jsonb_path_query_first(data, '$.owner.name') #>> '{}' FROM docs ORDER BY id`))
        .rows,
    ).toEqual([
      ['1', 'ann'],
      ['2', 'bo'],
      ['3', null],
    ]);
    // knex's whereJsonPath('data', '$.tags[0]', '=', 'b'), as it writes it.
    expect(
      await ids(`select "id" from "docs" where jsonb_path_query_first("data", $1) #>> '{}' = $2`, [
        '$.tags[0]',
        'b',
      ]),
    ).toBe('2');
    const functions = await answer(
      `SELECT jsonb_path_query_array(data, '$.tags[*]'), jsonb_path_exists(data, '$.owner') FROM docs WHERE id = 1`,
    );
    expect(functions.rows).toEqual([['["a", "b"]', 't']]);
  });

  it('? ?| ?&: keys of an object, strings of an array, as PostgreSQL answers', async () => {
    const cases: readonly (readonly [string, string, 't' | 'f'])[] = [
      ['{"a":1,"b":2}', 'a', 't'],
      ['{"a":{"c":1}}', 'c', 'f'],
      ['["a","b",1]', 'b', 't'],
      ['["a","b",1]', '1', 'f'],
      ['"a"', 'a', 't'],
      ['1', '1', 'f'],
      ['[["a"]]', 'a', 'f'],
    ];
    for (const [value, key, expected] of cases)
      expect(
        (await answer(`SELECT ${sqlString(value)}::jsonb ? ${sqlString(key)}`)).rows,
        `${value} ? ${key}`,
      ).toEqual([[expected]]);
    expect(
      (
        await answer(
          `SELECT a::jsonb ?| ks AS "any", a::jsonb ?& ks AS "all" FROM (VALUES ('{"a":1,"b":2}', '{a,z}'), ('{"a":1,"b":2}', '{a,b}'), ('{"a":1}', '{}'), ('["x","1"]', '{1}')) v(a, ks)`,
        )
      ).rows,
    ).toEqual([
      ['t', 'f'],
      ['t', 't'],
      ['f', 't'],
      ['t', 't'],
    ]);
  });

  it('#> and #>>: a path of keys and indexes, jsonb written as PostgreSQL writes it', async () => {
    const document = '{"a":{"b":[10,"x",{"c":null}]}}';
    const cases: readonly (readonly [string, string | null, string | null])[] = [
      ['{a,b,1}', '"x"', 'x'],
      ['{a,b,-1,c}', 'null', null],
      ['{a,b}', '[10, "x", {"c": null}]', '[10, "x", {"c": null}]'],
      ['{a,z}', null, null],
      ['{a,b,0}', '10', '10'],
      ['{a,NULL}', null, null],
    ];
    for (const [path, json, text] of cases) {
      const result = await answer(
        `SELECT ${sqlString(document)}::jsonb #> $1, ${sqlString(document)}::jsonb #>> $1`,
        [path],
      );
      expect(result.rows, path).toEqual([[json, text]]);
    }
    const typed = await answer(
      `SELECT data #> '{owner,teams}', data #>> '{owner,name}' FROM docs WHERE id = 1`,
    );
    // PostgreSQL: jsonb (3802); json here, which node-postgres parses alike.
    expect(typed.types).toEqual([Oid.json, Oid.text]);
    expect(typed.rows).toEqual([['[1, 2]', 'ann']]);
    // An object's keys come out in jsonb's order: shorter first, then by their bytes.
    expect((await answer(`SELECT '{"bb":1,"a":{"z":2,"yy":3}}'::jsonb #> '{}'`)).rows).toEqual([
      ['{"a": {"z": 2, "yy": 3}, "bb": 1}'],
    ]);
    expect(
      (
        await answer(
          `SELECT jsonb_extract_path('{"a":{"b":true}}', 'a', 'b') AS j, jsonb_extract_path_text('{"a":{"b":true}}', 'a', 'b') AS t, json_extract_path_text('{"a":[1,{"x":"y"}]}', 'a', '1', 'x') AS u`,
        )
      ).rows,
    ).toEqual([['true', 'true', 'y']]);
  });

  it('|| concatenates jsonb, - and #- delete, as PostgreSQL does', async () => {
    expect(
      (
        await answer(
          `SELECT a::jsonb || b::jsonb AS c FROM (VALUES ('{"a":1,"b":2}', '{"b":3,"c":4}'), ('[1,2]', '[3]'), ('[1]', '{"x":1}'), ('{"x":1}', '[1]'), ('1', '2'), ('"s"', '[1]')) v(a, b)`,
        )
      ).rows,
    ).toEqual([
      ['{"a": 1, "b": 3, "c": 4}'],
      ['[1, 2, 3]'],
      ['[1, {"x": 1}]'],
      ['[{"x": 1}, 1]'],
      ['[1, 2]'],
      ['["s", 1]'],
    ]);
    expect(
      (
        await answer(
          `SELECT a::jsonb - k AS d FROM (VALUES ('{"a":1,"b":2}', 'a'), ('["a","b","a"]', 'a'), ('{"a":1}', 'z')) v(a, k)`,
        )
      ).rows,
    ).toEqual([['{"b": 2}'], ['["b"]'], ['{"a": 1}']]);
    expect((await answer(`SELECT '[1,2,3]'::jsonb - 1 AS i, '[1,2,3]'::jsonb - -1 AS j`)).rows).toEqual([
      ['[1, 3]', '[1, 2]'],
    ]);
    expect(
      (
        await answer(
          `SELECT a::jsonb #- p AS d FROM (VALUES ('{"a":{"b":1,"c":2}}', '{a,b}'), ('{"a":[1,2,3]}', '{a,-1}'), ('{"a":1}', '{z,y}'), ('[1,[2,3]]', '{1,0}')) v(a, p)`,
        )
      ).rows,
    ).toEqual([['{"a": {"c": 2}}'], ['{"a": [1, 2]}'], ['{"a": 1}'], ['[1, [3]]']]);
    await expect(client.query(`SELECT '{"a":1}'::jsonb - 1`)).rejects.toMatchObject({ code: '22023' });
    await expect(client.query(`SELECT '5'::jsonb - 'a'`)).rejects.toMatchObject({ code: '22023' });
  });

  it('merges and deletes in an UPDATE with the forms applications write, and leaves text concatenation text', async () => {
    await client.query(`INSERT INTO docs VALUES (10, '{"status":"new","tmp":1}')`);
    // `data || $1` and `data - 'key'` on a jsonb column: before, SQLite's text || and numeric -
    // stored {"status":"new","tmp":1}{"seen":true} and 0.
    await client.query('UPDATE docs SET data = data || $1 WHERE id = 10', [JSON.stringify({ seen: true })]);
    await client.query(`UPDATE docs SET data = data - 'tmp' WHERE id = 10`);
    await client.query(`UPDATE docs SET data = data || '{"status":"open"}' WHERE id = 10`);
    expect((await answer('SELECT data FROM docs WHERE id = 10')).rows).toEqual([
      ['{"seen": true, "status": "open"}'],
    ]);
    expect((await answer(`SELECT data #>> '{status}', data ? 'tmp' FROM docs WHERE id = 10`)).rows).toEqual([
      ['open', 'f'],
    ]);
    // Text stays text: a LIKE pattern built with a parameter, a name built around a column.
    expect(
      (await answer(`SELECT id FROM docs WHERE data ->> 'status' LIKE '%' || $1 || '%' ORDER BY id`, ['pe']))
        .rows,
    ).toEqual([['10']]);
    expect((await answer(`SELECT 'id-' || id || '{}' AS label FROM docs WHERE id = 10`)).rows).toEqual([
      ['id-10{}'],
    ]);
    // A date minus a date string, or an interval, is not a jsonb key.
    const sql = (text: string) => translate(tokenize(text), facts).sql;
    expect(sql(`SELECT d - '2026-01-01', t - '1 day', n - 'yesterday' FROM x`)).toBe(
      `SELECT d - '2026-01-01', t - '1 day', n - 'yesterday' FROM x`,
    );
  });

  it('jsonb_set, jsonb_insert, jsonb_typeof and jsonb_strip_nulls as PostgreSQL (not SQLite) defines them', async () => {
    // SQLite has its own jsonb_set and jsonb_insert, with `$.a` paths and binary JSONB results.
    expect(
      (
        await answer(
          `SELECT jsonb_set('{"a":1,"b":{"c":2}}', '{b,c}', '5') AS s1, jsonb_set('{"a":1}', '{z}', '"n"') AS s2, jsonb_set('{"a":1}', '{z}', '"n"', false) AS s3, jsonb_set('[1,2,3]', '{1}', '[9]') AS s4, jsonb_set('[1,2,3]', '{9}', '4') AS s5, jsonb_set('[1,2,3]', '{-9}', '0') AS s6, jsonb_set('{"a":1}', '{x,y}', '1') AS s7, jsonb_set('{"a":[1]}', '{a,-1}', '7') AS s8`,
        )
      ).rows,
    ).toEqual([
      [
        '{"a": 1, "b": {"c": 5}}',
        '{"a": 1, "z": "n"}',
        '{"a": 1}',
        '[1, [9], 3]',
        '[1, 2, 3, 4]',
        '[0, 1, 2, 3]',
        '{"a": 1}',
        '{"a": [7]}',
      ],
    ]);
    expect(
      (
        await answer(
          `SELECT jsonb_insert('{"a":[0,1,2]}', '{a,1}', '"x"') AS i1, jsonb_insert('{"a":[0,1,2]}', '{a,1}', '"x"', true) AS i2, jsonb_insert('{"a":1}', '{b}', '2') AS i3, jsonb_insert('[1]', '{5}', '2') AS i4`,
        )
      ).rows,
    ).toEqual([['{"a": [0, "x", 1, 2]}', '{"a": [0, 1, "x", 2]}', '{"a": 1, "b": 2}', '[1, 2]']]);
    await expect(client.query(`SELECT jsonb_insert('{"a":1}', '{a}', '2')`)).rejects.toMatchObject({
      code: '22023',
    });
    await expect(client.query(`SELECT jsonb_set('5', '{a}', '1')`)).rejects.toMatchObject({ code: '22023' });
    expect(
      (
        await answer(
          `SELECT jsonb_typeof('{"a":1}'), jsonb_typeof('1.5'), jsonb_typeof('"s"'), jsonb_typeof('true'), jsonb_typeof('null'), jsonb_typeof('[1]')`,
        )
      ).rows,
    ).toEqual([['object', 'number', 'string', 'boolean', 'null', 'array']]);
    expect(
      (await answer(`SELECT jsonb_strip_nulls('{"a":null,"b":{"c":null,"d":1},"e":[null]}')`)).rows,
    ).toEqual([['{"b": {"d": 1}, "e": [null]}']]);
    expect((await answer(`SELECT jsonb_set('{"a":1}', '{a}', NULL)`)).rows).toEqual([[null]]);
    // In an UPDATE, as applications set one field of a document.
    await client.query(`UPDATE docs SET data = jsonb_set(data, '{owner,name}', $1) WHERE id = 2`, ['"bea"']);
    expect((await answer(`SELECT data #>> '{owner,name}' FROM docs WHERE id = 2`)).rows).toEqual([['bea']]);
  });

  it('names an operator item ?column? as PostgreSQL does, and an alias as given', async () => {
    const result = await client.query(
      `SELECT data ? 'tags', data #>> '{status}' AS status FROM docs WHERE id = 2`,
    );
    expect(result.fields.map((field) => field.name)).toEqual(['?column?', 'status']);
    expect(result.rows).toEqual([{ '?column?': 't', status: 'done' }]);
  });

  it('refuses text that is not JSON with 22P02, and operands it cannot tell with 42601', async () => {
    await expect(client.query(`SELECT '{}'::jsonb @> 'nope'`)).rejects.toMatchObject({ code: '22P02' });
    expect(() => translate(tokenize('SELECT data @> FROM docs'), facts)).toThrow(
      /could not tell the operands of the jsonb operator @>/,
    );
    // A NULL operand gives NULL, as the operators are strict.
    expect((await answer(`SELECT NULL::jsonb @> '{}', '{}'::jsonb ? NULL`)).rows).toEqual([[null, null]]);
  });

  it('translates the operators into calls, leaving SQLite’s -> and ->> as they are', () => {
    const sql = (text: string) => translate(tokenize(text), facts).sql;
    expect(sql(`SELECT * FROM t WHERE data -> 'tags' ? 'x' AND t.data #>> '{a,b}' = 'c'`)).toBe(
      `SELECT * FROM t WHERE jsonb_exists(data -> 'tags','x') AND northlight_json_path_text(t.data,'{a,b}') = 'c'`,
    );
    // Operators of one precedence bind from the left; a space splits an operator (`# >` is not `#>`).
    expect(sql('SELECT 1 WHERE a @> b @> c')).toBe('SELECT 1 WHERE jsonb_contains(jsonb_contains(a,b),c)');
    expect(sql('SELECT 5 # 3 FROM t WHERE a <= b')).toBe('SELECT 5 # 3 FROM t WHERE a <= b');
  });
});
