/**
 * The SQL kernel (issue 4): SQLite-in-WebAssembly in a worker thread over a VFS that turns each
 * committed transaction into one group of page-diff redo records. The rest of the engine uses only
 * `KernelHost` and the message shapes; everything else here is the kernel's inside.
 */
export { KernelHost, type KernelHostOptions, type KernelStarted } from './kernel-host.js';
export type {
  ExecuteReply,
  ExecuteRequest,
  KernelStats,
  SealedGroup,
  SqlParam,
  SqlStatement,
  SqlValue,
  StatementResult,
  TransactionStep,
  TypedValue,
} from './messages.js';
export type { PageCacheStats } from './page-cache.js';
export { PAGE_SIZE_BYTES } from './redo-vfs.js';
export { SQLSTATE, type SqlError } from './sql-errors.js';
export {
  DEFAULT_MAX_GROUP_PAGES,
  DEFAULT_MAX_RESULT_ROWS,
  DEFAULT_MAX_UNASSIGNED_GROUPS,
  DEFAULT_SQLITE_CACHE_PAGES,
} from './sql-session.js';
