// Proves docs/errors.md documents exactly the error catalog: one `## NL_CODE` heading per catalog code,
// no heading for a code that does not exist, no duplicates, each section with text; and that every
// catalog entry has a non-empty summary and action.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalog, errorCodes } from '../src/core/errors.js';

const errorsDoc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** The `## NL_...` sections of docs/errors.md, heading → body text. */
function sections(markdown: string): Map<string, string> {
  const result = new Map<string, string>();
  const headings: string[] = [];
  let current: string | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^## (\S+)\s*$/.exec(line);
    if (heading !== null) {
      current = heading[1]!;
      headings.push(current);
      result.set(current, '');
    } else if (line.startsWith('## ') || line.startsWith('# ')) {
      current = undefined;
    } else if (current !== undefined) {
      result.set(current, `${result.get(current)}${line}\n`);
    }
  }
  expect(headings.length, 'duplicate headings in docs/errors.md').toBe(result.size);
  return result;
}

describe('error catalog', () => {
  const documented = sections(errorsDoc);

  it('has one docs/errors.md heading per catalog code, and no other', () => {
    expect([...documented.keys()].sort()).toEqual([...errorCodes].sort());
  });

  it.each(errorCodes)('documents %s with text, and the catalog gives it a summary and an action', (code) => {
    expect(documented.get(code)?.trim()).toBeTruthy();
    expect(errorCatalog[code].summary.trim()).not.toBe('');
    expect(errorCatalog[code].action.trim()).not.toBe('');
  });

  it('uses codes that look like NL_UPPER_SNAKE', () => {
    for (const code of errorCodes) expect(code).toMatch(/^NL_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  });
});
