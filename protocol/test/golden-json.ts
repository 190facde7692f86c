// The JSON form of decoded values in protocol/fixtures/*/manifest.json: bigints become decimal strings
// and byte arrays lowercase hex, so a manifest can be read and diffed by people. Shared by the fixture
// writer (scripts/write-golden-fixtures.ts) and the golden-fixtures test.

export type GoldenJson = null | boolean | number | string | GoldenJson[] | { [key: string]: GoldenJson };

export function toGoldenJson(value: unknown): GoldenJson {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(toGoldenJson);
  if (
    value === null ||
    typeof value === 'boolean' ||
    typeof value === 'number' ||
    typeof value === 'string'
  ) {
    return value;
  }
  if (typeof value === 'object') {
    const result: { [key: string]: GoldenJson } = {};
    for (const [key, field] of Object.entries(value)) result[key] = toGoldenJson(field);
    return result;
  }
  throw new Error(`no golden JSON form for ${typeof value}`);
}

export function toHex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) throw new Error(`not lowercase hex: ${text}`);
  const bytes = new Uint8Array(text.length / 2);
  for (let index = 0; index < bytes.length; index++)
    bytes[index] = Number.parseInt(text.slice(index * 2, index * 2 + 2), 16);
  return bytes;
}
