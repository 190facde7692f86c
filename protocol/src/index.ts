/**
 * @northlight/protocol: the formats and rules every northlight process shares. Pure code only;
 * the real adapters of the environment interfaces are in `@northlight/protocol/io`.
 */
export * from './core/assert.js';
export * from './core/bytes-pool.js';
export * from './core/codec.js';
export * from './core/completeness.js';
export * from './core/crc32c.js';
export * from './core/env.js';
export * from './core/errors.js';
export * from './core/frame.js';
export * from './core/messages.js';
export * from './core/packed-records.js';
export * from './core/quorum.js';
export * from './core/recovery.js';
export * from './core/redo-record.js';
export * from './core/transport-auth.js';
export * from './core/types.js';
