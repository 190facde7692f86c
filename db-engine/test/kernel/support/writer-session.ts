/**
 * A writer's SQL session over an empty in-memory volume, with the groups it seals kept: for kernel
 * tests that run statements on the session itself, without a worker or a quorum driver.
 */
import type { ExecuteReply } from '../../../src/kernel/messages.js';
import { PAGE_SIZE_BYTES, type PageGroup } from '../../../src/kernel/redo-vfs.js';
import { SqlSession } from '../../../src/kernel/sql-session.js';

export async function openWriter(): Promise<{ session: SqlSession; groups: PageGroup[] }> {
  const groups: PageGroup[] = [];
  const session = await SqlSession.open({
    pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
    sink: {
      seal: (group) => {
        groups.push(group);
        return 'ok';
      },
    },
    cachePages: 1_000,
  });
  return { session, groups };
}

/** The reply of a request that must succeed; a failure throws with its SQLSTATE and message. */
export function ok(reply: ExecuteReply): Extract<ExecuteReply, { ok: true }> {
  if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}`);
  return reply;
}
