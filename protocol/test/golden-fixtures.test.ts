// Proves released wire formats stay readable and unchanged: every fixture in protocol/fixtures/v*/
// decodes to the value its manifest.json records AND re-encodes to the identical bytes; the manifest and
// the folder list the same files; and version 1 covers both record kinds, the CPL flag, a multi-run diff
// and every message type. Fixtures are written once by scripts/write-golden-fixtures.ts and then frozen.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeMessageFromBytes, encodeMessage, type Message, messageTypes } from '../src/core/messages.js';
import { decodeRedoRecord, encodeRedoRecord, type RedoRecord } from '../src/core/redo-record.js';
import { type GoldenJson, toGoldenJson } from './golden-json.js';

interface ManifestEntry {
  readonly file: string;
  readonly codec: 'redo-record' | 'message';
  readonly description: string;
  readonly sizeBytes: number;
  readonly value: GoldenJson;
}

interface Manifest {
  readonly formatVersion: number;
  readonly fixtures: readonly ManifestEntry[];
}

const fixturesRoot = new URL('../fixtures/', import.meta.url);
const versionFolders = readdirSync(fixturesRoot)
  .filter((name) => /^v\d+$/.test(name))
  .sort();

function readManifest(folder: string): Manifest {
  return JSON.parse(readFileSync(new URL(`${folder}/manifest.json`, fixturesRoot), 'utf8')) as Manifest;
}

function readFixture(folder: string, file: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`${folder}/${file}`, fixturesRoot)));
}

/** Decodes a fixture whole (no trailing bytes allowed) and re-encodes what it decoded. */
function roundTrip(
  entry: ManifestEntry,
  bytes: Uint8Array,
): { decoded: RedoRecord | Message; reencoded: Uint8Array } {
  if (entry.codec === 'redo-record') {
    const { record, bytesRead } = decodeRedoRecord(bytes);
    expect(bytesRead).toBe(bytes.length);
    return { decoded: record, reencoded: encodeRedoRecord(record) };
  }
  const message = decodeMessageFromBytes(bytes);
  return { decoded: message, reencoded: encodeMessage(message) };
}

describe('golden fixtures', () => {
  it('has at least the version 1 folder', () => {
    expect(versionFolders).toContain('v1');
  });

  describe.each(versionFolders)('%s', (folder) => {
    const manifest = readManifest(folder);

    it('lists exactly the .bin files in its folder', () => {
      expect(manifest.formatVersion).toBe(Number(folder.slice(1)));
      const files = readdirSync(new URL(`${folder}/`, fixturesRoot)).filter((name) => name.endsWith('.bin'));
      expect(manifest.fixtures.map((entry) => entry.file).sort()).toEqual(files.sort());
    });

    it.each(manifest.fixtures.map((entry) => [entry.file, entry] as const))(
      '%s decodes to its manifest value and re-encodes to the same bytes',
      (_file, entry) => {
        const bytes = readFixture(folder, entry.file);
        expect(bytes.length).toBe(entry.sizeBytes);
        const { decoded, reencoded } = roundTrip(entry, bytes);
        expect(toGoldenJson(decoded)).toEqual(entry.value);
        expect(reencoded).toEqual(bytes);
      },
    );
  });

  it('covers both record kinds, the CPL flag, a multi-run diff and every message type in v1', () => {
    const decoded = readManifest('v1').fixtures.map(
      (entry) => roundTrip(entry, readFixture('v1', entry.file)).decoded,
    );
    const records = decoded.flatMap((value) =>
      'kind' in value ? [value] : 'records' in value ? [...value.records] : [],
    );
    expect(new Set(records.map((record) => record.kind))).toEqual(new Set(['page-diff', 'noop']));
    expect(new Set(records.map((record) => record.cpl))).toEqual(new Set([true, false]));
    expect(records.some((record) => record.runs.length > 1)).toBe(true);
    const types = new Set(decoded.flatMap((value) => ('type' in value ? [value.type] : [])));
    expect([...types].sort()).toEqual([...messageTypes].sort());
    expect(decoded.some((value) => 'type' in value && value.type === 'append-batch' && value.packed)).toBe(
      true,
    );
  });
});
