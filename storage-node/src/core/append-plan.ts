/**
 * Which records of an append batch a segment must write, or why the whole batch is refused — pure,
 * decided before anything is written, so a refused batch changes no stored data.
 *
 * A record is refused (the batch gets NL_DECODE_INVALID) when it:
 *  - lies outside the segment's PG, or writes past the volume's page size;
 *  - has an LSN a truncation annulled (a writer of the current epoch never sends one);
 *  - conflicts with a record held or being written at the same LSN (another backlink);
 *  - forks the PG's chain: another record already follows its backlink, or it names a predecessor
 *    below the SCL (whose successor is then already on the chain).
 * A record is a duplicate (acknowledged, not rewritten) when the segment holds it, is writing it, or it
 * lies at or below the SCL (covered by the chain, or coalesced into page images and GC'd).
 */
import { isTruncated, type Lsn, type RedoRecord } from '@northlight/protocol';
import { pageInPg } from './read-page.js';
import type { Segment } from './segment.js';

export type AppendPlan =
  | { readonly ok: true; readonly fresh: readonly RedoRecord[]; readonly duplicates: number }
  | { readonly ok: false; readonly problem: string };

export function planAppend(
  segment: Segment,
  records: readonly RedoRecord[],
  pagesPerPg: number,
  pageSizeBytes: number,
): AppendPlan {
  const control = segment.control;
  const fresh: RedoRecord[] = [];
  const batchSuccessor = new Map<Lsn, Lsn>();
  let duplicates = 0;
  for (const record of records) {
    const problem = recordProblem(segment, record, pagesPerPg, pageSizeBytes);
    if (problem !== undefined) return { ok: false, problem: `record ${record.lsn}: ${problem}` };
    if (isTruncated(record.lsn, control.truncations))
      return { ok: false, problem: `record ${record.lsn} is in a truncated (annulled) range` };
    const held = segment.get(record.lsn)?.backlink ?? segment.inFlight.get(record.lsn);
    if (held !== undefined) {
      if (held !== record.backlink)
        return { ok: false, problem: `record ${record.lsn} has backlink ${record.backlink}, not ${held}` };
      duplicates++;
      continue;
    }
    if (record.lsn <= segment.scl) {
      duplicates++;
      continue;
    }
    if (record.backlink < segment.scl)
      return { ok: false, problem: `record ${record.lsn} forks the chain below the SCL ${segment.scl}` };
    const successor = segment.successorOf(record.backlink) ?? batchSuccessor.get(record.backlink);
    if (successor !== undefined && successor !== record.lsn)
      return { ok: false, problem: `records ${successor} and ${record.lsn} both follow ${record.backlink}` };
    batchSuccessor.set(record.backlink, record.lsn);
    fresh.push(record);
  }
  return { ok: true, fresh, duplicates };
}

function recordProblem(
  segment: Segment,
  record: RedoRecord,
  pagesPerPg: number,
  pageSizeBytes: number,
): string | undefined {
  if (record.kind === 'noop') return undefined;
  if (!pageInPg(record.pageNo, segment.control.pgId, pagesPerPg))
    return `page ${record.pageNo} is not in PG ${segment.control.pgId}`;
  const last = record.runs.at(-1);
  if (last !== undefined && last.offset + last.bytes.length > pageSizeBytes)
    return `a run ends at ${last.offset + last.bytes.length}, past the ${pageSizeBytes}-byte page`;
  return undefined;
}
