/**
 * The control plane's metadata directory: what it holds, the store interface its two adapters
 * implement (`io/file-metadata.ts` for the embedded platform, `io/redis-metadata.ts` for Redis), the
 * versioned document both of them persist, and the rebuild of a volume's layout from storage nodes.
 *
 * Storage nodes hold the truth about epochs and membership (DESIGN.md); this directory is a cache of
 * it plus a journal of the control plane's own work (repairs, migrations) and the backup catalog.
 * Losing it loses no data: `rebuildFromStorage` recovers every volume's layout from the nodes'
 * `GET /v1/status` reports.
 *
 * Records are plain JSON-able data; 64-bit epochs and LSNs are decimal strings, as the storage admin
 * API serves them. Every write replaces the whole content under optimistic concurrency: it names the
 * revision it was planned from and fails with a conflict if another control plane wrote since.
 */
import {
  AssertionError,
  assert,
  crc32c,
  type ErrorCode,
  isNorthlightError,
  isValidIdentifier,
  NorthlightError,
  type Result,
  U64_MAX,
} from '@northlight/protocol';

// ---------------------------------------------------------------------------------------------------
// Records

/** A 64-bit unsigned integer (epoch, LSN) as a decimal string without leading zeros. */
export type DecimalU64 = string;

export interface ClusterRecord {
  /** The engine instance currently acting as writer; undefined before the first promotion. */
  readonly writer: string | undefined;
  readonly volumeEpoch: DecimalU64;
}

export interface PgRecord {
  readonly pgId: number;
  readonly membershipEpoch: DecimalU64;
  /** Segment ids, in the order the storage nodes hold them. */
  readonly members: readonly string[];
  /** The node hosting each member: `nodes[i]` hosts `members[i]`. */
  readonly nodes: readonly string[];
}

export interface VolumeRecord {
  readonly name: string;
  readonly pagesPerPg: number;
  /** Dense: `pgs[i].pgId === i`. */
  readonly pgs: readonly PgRecord[];
}

export type WorkflowKind = 'repair' | 'migration';
export type WorkflowState = 'planned' | 'hydrating' | 'switching' | 'done' | 'reverted';
export const WORKFLOW_KINDS: readonly WorkflowKind[] = ['repair', 'migration'];
export const WORKFLOW_STATES: readonly WorkflowState[] = [
  'planned',
  'hydrating',
  'switching',
  'done',
  'reverted',
];

/** A repair or migration: moving one member of PG `pgId` from one segment and node to another. */
export interface WorkflowRecord {
  readonly id: string;
  readonly kind: WorkflowKind;
  readonly pgId: number;
  readonly fromNode: string;
  readonly toNode: string;
  readonly fromSegment: string;
  readonly toSegment: string;
  readonly state: WorkflowState;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
  readonly note?: string;
}

export interface BackupRecord {
  readonly pgId: number;
  readonly segmentId: string;
  /** The segment's log is in the object store through this LSN. */
  readonly backedUpThrough: DecimalU64;
  readonly updatedAtMs: number;
}

/** Everything a write supplies: the directory's content without its revision. */
export interface MetadataContent {
  readonly cluster: ClusterRecord;
  readonly volumes: readonly VolumeRecord[];
  /** Open workflows and the most recent finished ones, in journal order (oldest first). */
  readonly workflows: readonly WorkflowRecord[];
  readonly backups: readonly BackupRecord[];
}

export interface MetadataSnapshot extends MetadataContent {
  /** 0 when nothing is stored; each successful write adds one. */
  readonly revision: number;
}

export const EMPTY_METADATA: MetadataSnapshot = Object.freeze({
  revision: 0,
  cluster: Object.freeze({ writer: undefined, volumeEpoch: '0' }),
  volumes: Object.freeze([]),
  workflows: Object.freeze([]),
  backups: Object.freeze([]),
});

// ---------------------------------------------------------------------------------------------------
// The store

export interface MetadataStore {
  /** The current snapshot; `EMPTY_METADATA` (revision 0) when nothing is stored. */
  read(): Promise<MetadataSnapshot>;
  /**
   * Replaces the content with `next` if the stored revision is still `expectedRevision`, and returns
   * what was stored (revision `expectedRevision + 1`, workflow journal bounded). Rejects with a
   * conflict (`isMetadataConflict`) if someone wrote since: re-read, re-plan, write again.
   */
  write(expectedRevision: number, next: MetadataContent): Promise<MetadataSnapshot>;
  /** Deletes everything (`northlight down --wipe-metadata`); the next read is revision 0. */
  wipe(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Limits

/** Finished (done or reverted) workflows kept in the journal; older finished ones are dropped. */
export const MAX_FINISHED_WORKFLOWS = 1000;
/**
 * Open workflows the journal accepts. The planner keeps far fewer in flight (each one copies a whole
 * segment); more than this is a planner bug, so a write with more is an assertion.
 */
export const MAX_OPEN_WORKFLOWS = 1000;
/** An encoded document larger than this is refused on write (assertion) and on read (corrupt). */
export const MAX_METADATA_DOCUMENT_BYTES = 64 * 1024 * 1024;
/** The document format this build writes and reads. */
export const METADATA_FORMAT_VERSION = 1;

// ---------------------------------------------------------------------------------------------------
// Errors

/**
 * The catalog codes metadata failures carry (docs/errors.md). Callers branch on
 * `metadataFailureKind` (which reads `details.metadataFailure`), which also tells a newer format and
 * a disk error apart.
 */
export const METADATA_ERROR_CODES = {
  conflict: 'NL_METADATA_CONFLICT',
  corrupt: 'NL_METADATA_CORRUPT',
  /** A document written by a newer build: the code is already right. */
  newerFormat: 'NL_DECODE_UNKNOWN_VERSION',
  unavailable: 'NL_METADATA_UNAVAILABLE',
} as const satisfies Record<string, ErrorCode>;

export type MetadataFailureKind = keyof typeof METADATA_ERROR_CODES;

export function metadataError(
  kind: MetadataFailureKind,
  message: string,
  details: Readonly<Record<string, string | number | boolean>> = {},
): NorthlightError {
  return new NorthlightError(METADATA_ERROR_CODES[kind], message, { ...details, metadataFailure: kind });
}

export function metadataFailureKind(error: unknown): MetadataFailureKind | undefined {
  if (!isNorthlightError(error)) return undefined;
  const kind = error.details.metadataFailure;
  return typeof kind === 'string' && kind in METADATA_ERROR_CODES ? (kind as MetadataFailureKind) : undefined;
}

export function isMetadataConflict(error: unknown): boolean {
  return metadataFailureKind(error) === 'conflict';
}

/** `where` names the store ("file /data/metadata.json", "redis 127.0.0.1:6379 northlight/c1/"). */
export function metadataConflict(
  where: string,
  expectedRevision: number,
  storedRevision: number,
): NorthlightError {
  return metadataError(
    'conflict',
    `metadata directory (${where}) is at revision ${storedRevision}, not ${expectedRevision}: ` +
      'another control plane wrote since this one read; re-read it and plan again',
    { expectedRevision, storedRevision },
  );
}

/** What to do about a damaged directory, for error messages. */
export const CORRUPT_METADATA_ACTION =
  'the metadata directory is a cache of the storage nodes: wipe it (`northlight down --wipe-metadata`, ' +
  'or move the damaged copy aside) and the control plane rebuilds it from the storage nodes';

/** The error for a stored document that does not decode; `where` names the file or key. */
export function undecodableMetadata(where: string, failure: DecodeFailure): NorthlightError {
  if (failure.newerFormat) {
    return metadataError('newerFormat', `metadata directory (${where}): ${failure.reason}`, { where });
  }
  return metadataError(
    'corrupt',
    `metadata directory (${where}) is damaged: ${failure.reason}. What to do: ${CORRUPT_METADATA_ACTION}`,
    { where },
  );
}

// ---------------------------------------------------------------------------------------------------
// The journal bound

export function isFinishedWorkflow(workflow: WorkflowRecord): boolean {
  return workflow.state === 'done' || workflow.state === 'reverted';
}

/**
 * Keeps every open workflow and the MAX_FINISHED_WORKFLOWS most recently finished ones (by
 * `updatedAtMs`, which a finished workflow no longer changes; journal order breaks ties), in journal
 * order.
 */
export function boundWorkflowJournal(workflows: readonly WorkflowRecord[]): WorkflowRecord[] {
  const finished = workflows.filter(isFinishedWorkflow);
  if (finished.length <= MAX_FINISHED_WORKFLOWS) return [...workflows];
  const oldestFirst = [...finished].sort((a, b) => a.updatedAtMs - b.updatedAtMs); // stable: ties keep order
  const dropped = new Set(oldestFirst.slice(0, finished.length - MAX_FINISHED_WORKFLOWS));
  return workflows.filter((workflow) => !dropped.has(workflow));
}

// ---------------------------------------------------------------------------------------------------
// The document: what both stores persist

/**
 * Version 1, one JSON object:
 *   { "format": 1, "revision": n, "crc32c": "xxxxxxxx", "cluster": {…}, "volumes": […],
 *     "workflows": […], "backups": […] }
 * `crc32c` (8 lowercase hex digits) covers the compact encoding of the same object without the
 * `crc32c` field, keys in the order above, each record's keys in declaration order. The reader
 * re-encodes what it decoded and compares, so a flipped digit that still parses is caught, while a
 * document re-indented or with keys reordered by hand still reads.
 */
export function encodeMetadataDocument(snapshot: MetadataSnapshot, indent?: number): string {
  const body = canonicalBody(snapshot);
  const checksum = checksumOf(JSON.stringify(body));
  const { format, revision, ...content } = body;
  const text = JSON.stringify({ format, revision, crc32c: checksum, ...content }, undefined, indent);
  assert(!exceedsDocumentLimit(text), `metadata document exceeds ${MAX_METADATA_DOCUMENT_BYTES} bytes`);
  return text;
}

/** The reason is a sentence for an error message; `newerFormat` says an upgrade, not a wipe, fixes it. */
export type DecodeFailure = { readonly reason: string; readonly newerFormat: boolean };

export function decodeMetadataDocument(text: string): Result<MetadataSnapshot, DecodeFailure> {
  if (exceedsDocumentLimit(text)) {
    return {
      ok: false,
      error: { reason: `larger than ${MAX_METADATA_DOCUMENT_BYTES} bytes`, newerFormat: false },
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: { reason: `not JSON (${(error as Error).message})`, newerFormat: false } };
  }
  try {
    const snapshot = snapshotFromDocument(parsed);
    const expected = checksumOf(JSON.stringify(canonicalBody(snapshot)));
    const stored = (parsed as Record<string, unknown>).crc32c;
    if (stored !== expected) {
      throw new InvalidDocument(
        `checksum mismatch (stored ${JSON.stringify(stored)}, content gives "${expected}"): changed or damaged after it was written`,
      );
    }
    return { ok: true, value: snapshot };
  } catch (error) {
    if (error instanceof InvalidDocument) {
      return { ok: false, error: { reason: error.message, newerFormat: error.newerFormat } };
    }
    throw error;
  }
}

/**
 * Validates and normalizes a write's content and gives the document to store for `revision`. Content
 * that breaks a record rule is a bug in the control plane, so it is an assertion, not a typed error.
 */
export function prepareWrite(
  revision: number,
  next: MetadataContent,
  indent?: number,
): { readonly snapshot: MetadataSnapshot; readonly text: string } {
  assert(Number.isSafeInteger(revision) && revision > 0, `bad revision ${revision}`);
  // Through JSON and the reader's own validation: what is stored is exactly what a read decodes, a
  // stray field in a record or a bigint fails here rather than later, and the result shares nothing
  // with `next`. Only the four parts are taken from `next`, so a snapshot (with its revision) spread
  // into a new content object is fine.
  const asStored: unknown = JSON.parse(
    JSON.stringify({
      format: METADATA_FORMAT_VERSION,
      revision,
      cluster: next.cluster,
      volumes: next.volumes,
      workflows: boundWorkflowJournal(next.workflows),
      backups: next.backups,
    }),
  );
  let snapshot: MetadataSnapshot;
  try {
    snapshot = snapshotFromDocument(asStored);
  } catch (error) {
    if (error instanceof InvalidDocument)
      throw new AssertionError(`invalid metadata write: ${error.message}`);
    throw error;
  }
  return { snapshot, text: encodeMetadataDocument(snapshot, indent) };
}

class InvalidDocument extends Error {
  readonly newerFormat: boolean;
  constructor(message: string, newerFormat = false) {
    super(message);
    this.newerFormat = newerFormat;
  }
}

function checksumOf(compactBody: string): string {
  return crc32c(new TextEncoder().encode(compactBody)).toString(16).padStart(8, '0');
}

function exceedsDocumentLimit(text: string): boolean {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes: only encode when that bound is not enough.
  if (text.length * 3 <= MAX_METADATA_DOCUMENT_BYTES) return false;
  return new TextEncoder().encode(text).length > MAX_METADATA_DOCUMENT_BYTES;
}

/** The document without its checksum, every record rebuilt field by field in declaration order. */
function canonicalBody(snapshot: MetadataSnapshot) {
  return {
    format: METADATA_FORMAT_VERSION,
    revision: snapshot.revision,
    cluster: {
      ...(snapshot.cluster.writer === undefined ? {} : { writer: snapshot.cluster.writer }),
      volumeEpoch: snapshot.cluster.volumeEpoch,
    },
    volumes: snapshot.volumes.map((volume) => ({
      name: volume.name,
      pagesPerPg: volume.pagesPerPg,
      pgs: volume.pgs.map((pg) => ({
        pgId: pg.pgId,
        membershipEpoch: pg.membershipEpoch,
        members: [...pg.members],
        nodes: [...pg.nodes],
      })),
    })),
    workflows: snapshot.workflows.map((workflow) => ({
      id: workflow.id,
      kind: workflow.kind,
      pgId: workflow.pgId,
      fromNode: workflow.fromNode,
      toNode: workflow.toNode,
      fromSegment: workflow.fromSegment,
      toSegment: workflow.toSegment,
      state: workflow.state,
      startedAtMs: workflow.startedAtMs,
      updatedAtMs: workflow.updatedAtMs,
      ...(workflow.note === undefined ? {} : { note: workflow.note }),
    })),
    backups: snapshot.backups.map((backup) => ({
      pgId: backup.pgId,
      segmentId: backup.segmentId,
      backedUpThrough: backup.backedUpThrough,
      updatedAtMs: backup.updatedAtMs,
    })),
  };
}

// ---------------------------------------------------------------------------------------------------
// Validation: the reader's rules, also applied to every write by `prepareWrite`

/** Longest free-text note on a workflow. */
export const MAX_WORKFLOW_NOTE_CHARS = 1024;
/** PGs in one volume: 1 Mi PGs of 1 GiB is a 1 PiB volume. Also bounds the rebuild's dense walk. */
export const MAX_PGS_PER_VOLUME = 1 << 20;

type JsonObject = Readonly<Record<string, unknown>>;

const decimalPattern = /^(0|[1-9][0-9]{0,19})$/;

function objectOf(value: unknown, path: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidDocument(`${path}: expected an object`);
  }
  return value as JsonObject;
}

/** An object with every `required` key and, unless `optional` is 'any', no key outside both lists. */
function fields(
  value: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] | 'any' = [],
) {
  const object = objectOf(value, path);
  for (const key of required) {
    if (!Object.hasOwn(object, key)) throw new InvalidDocument(`${path}.${key}: missing`);
  }
  if (optional === 'any') return object;
  for (const key of Object.keys(object)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw new InvalidDocument(`${path}.${key}: unknown field`);
    }
  }
  return object;
}

function list(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new InvalidDocument(`${path}: expected an array`);
  return value;
}

function identifier(value: unknown, path: string): string {
  if (typeof value !== 'string' || !isValidIdentifier(value)) {
    throw new InvalidDocument(`${path}: ${JSON.stringify(value)} is not an identifier ([a-z0-9._-], 1-63)`);
  }
  return value;
}

function decimalU64(value: unknown, path: string): DecimalU64 {
  if (typeof value !== 'string' || !decimalPattern.test(value) || BigInt(value) > U64_MAX) {
    throw new InvalidDocument(`${path}: ${JSON.stringify(value)} is not a decimal 64-bit unsigned integer`);
  }
  return value;
}

function count(value: unknown, path: string, minimum = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    throw new InvalidDocument(`${path}: ${JSON.stringify(value)} is not an integer ≥ ${minimum}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !options.includes(value as T)) {
    throw new InvalidDocument(`${path}: ${JSON.stringify(value)} is not one of ${options.join(', ')}`);
  }
  return value as T;
}

function distinctIdentifiers(value: unknown, path: string): string[] {
  const items = list(value, path).map((item, index) => identifier(item, `${path}[${index}]`));
  if (new Set(items).size !== items.length) throw new InvalidDocument(`${path}: duplicate entries`);
  return items;
}

function checkFormat(root: JsonObject): void {
  const format = root.format;
  if (format === METADATA_FORMAT_VERSION) return;
  const newer = typeof format === 'number' && Number.isInteger(format) && format > METADATA_FORMAT_VERSION;
  throw new InvalidDocument(
    newer
      ? `format version ${format} is newer than this build reads (${METADATA_FORMAT_VERSION}): upgrade the control plane`
      : `format ${JSON.stringify(format)} is not a known metadata format version`,
    newer,
  );
}

function snapshotFromDocument(value: unknown): MetadataSnapshot {
  // The version first: a newer format may lack or add fields, and deserves the upgrade message.
  checkFormat(objectOf(value, 'document'));
  const root = fields(
    value,
    'document',
    ['format', 'revision', 'cluster', 'volumes', 'workflows', 'backups'],
    ['crc32c'],
  );
  const volumes = list(root.volumes, 'volumes').map((volume, index) =>
    volumeFrom(volume, `volumes[${index}]`),
  );
  const workflows = list(root.workflows, 'workflows').map((workflow, index) =>
    workflowFrom(workflow, `workflows[${index}]`),
  );
  const backups = list(root.backups, 'backups').map((backup, index) =>
    backupFrom(backup, `backups[${index}]`),
  );
  checkUnique(
    volumes.map((volume) => volume.name),
    'volumes: duplicate name',
  );
  checkUnique(
    workflows.map((workflow) => workflow.id),
    'workflows: duplicate id',
  );
  checkUnique(
    backups.map((backup) => `PG ${backup.pgId} segment ${backup.segmentId}`),
    'backups: duplicate entry for',
  );
  checkJournalBounds(workflows);
  return {
    revision: count(root.revision, 'revision', 1), // revision 0 is "nothing stored", never written
    cluster: clusterFrom(root.cluster),
    volumes,
    workflows,
    backups,
  };
}

function checkUnique(keys: readonly string[], message: string): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) throw new InvalidDocument(`${message} ${key}`);
    seen.add(key);
  }
}

function checkJournalBounds(workflows: readonly WorkflowRecord[]): void {
  const finished = workflows.filter(isFinishedWorkflow).length;
  const open = workflows.length - finished;
  if (finished > MAX_FINISHED_WORKFLOWS) {
    throw new InvalidDocument(`workflows: ${finished} finished, more than ${MAX_FINISHED_WORKFLOWS}`);
  }
  if (open > MAX_OPEN_WORKFLOWS) {
    throw new InvalidDocument(`workflows: ${open} open, more than ${MAX_OPEN_WORKFLOWS}`);
  }
}

function clusterFrom(value: unknown): ClusterRecord {
  const object = fields(value, 'cluster', ['volumeEpoch'], ['writer']);
  return {
    writer: object.writer === undefined ? undefined : identifier(object.writer, 'cluster.writer'),
    volumeEpoch: decimalU64(object.volumeEpoch, 'cluster.volumeEpoch'),
  };
}

function volumeFrom(value: unknown, path: string): VolumeRecord {
  const object = fields(value, path, ['name', 'pagesPerPg', 'pgs']);
  const pgs = list(object.pgs, `${path}.pgs`);
  if (pgs.length > MAX_PGS_PER_VOLUME) {
    throw new InvalidDocument(`${path}.pgs: ${pgs.length} PGs, more than ${MAX_PGS_PER_VOLUME}`);
  }
  return {
    name: identifier(object.name, `${path}.name`),
    pagesPerPg: count(object.pagesPerPg, `${path}.pagesPerPg`, 1),
    pgs: pgs.map((pg, index) => pgFrom(pg, `${path}.pgs[${index}]`, index)),
  };
}

function pgFrom(value: unknown, path: string, index: number): PgRecord {
  const object = fields(value, path, ['pgId', 'membershipEpoch', 'members', 'nodes']);
  const pgId = count(object.pgId, `${path}.pgId`);
  if (pgId !== index)
    throw new InvalidDocument(`${path}.pgId: ${pgId}, expected ${index} (PG ids are dense)`);
  const members = distinctIdentifiers(object.members, `${path}.members`);
  const nodes = list(object.nodes, `${path}.nodes`).map((node, at) =>
    identifier(node, `${path}.nodes[${at}]`),
  );
  if (members.length === 0) throw new InvalidDocument(`${path}.members: empty`);
  if (nodes.length !== members.length) {
    throw new InvalidDocument(`${path}.nodes: ${nodes.length} nodes for ${members.length} members`);
  }
  return {
    pgId,
    membershipEpoch: decimalU64(object.membershipEpoch, `${path}.membershipEpoch`),
    members,
    nodes,
  };
}

function workflowFrom(value: unknown, path: string): WorkflowRecord {
  const object = fields(
    value,
    path,
    [
      'id',
      'kind',
      'pgId',
      'fromNode',
      'toNode',
      'fromSegment',
      'toSegment',
      'state',
      'startedAtMs',
      'updatedAtMs',
    ],
    ['note'],
  );
  const startedAtMs = count(object.startedAtMs, `${path}.startedAtMs`);
  const updatedAtMs = count(object.updatedAtMs, `${path}.updatedAtMs`, startedAtMs);
  const note = object.note;
  if (note !== undefined && (typeof note !== 'string' || note.length > MAX_WORKFLOW_NOTE_CHARS)) {
    throw new InvalidDocument(`${path}.note: not a string of at most ${MAX_WORKFLOW_NOTE_CHARS} characters`);
  }
  return {
    id: identifier(object.id, `${path}.id`),
    kind: oneOf(object.kind, `${path}.kind`, WORKFLOW_KINDS),
    pgId: count(object.pgId, `${path}.pgId`),
    fromNode: identifier(object.fromNode, `${path}.fromNode`),
    toNode: identifier(object.toNode, `${path}.toNode`),
    fromSegment: identifier(object.fromSegment, `${path}.fromSegment`),
    toSegment: identifier(object.toSegment, `${path}.toSegment`),
    state: oneOf(object.state, `${path}.state`, WORKFLOW_STATES),
    startedAtMs,
    updatedAtMs,
    ...(note === undefined ? {} : { note }),
  };
}

function backupFrom(value: unknown, path: string): BackupRecord {
  const object = fields(value, path, ['pgId', 'segmentId', 'backedUpThrough', 'updatedAtMs']);
  return {
    pgId: count(object.pgId, `${path}.pgId`),
    segmentId: identifier(object.segmentId, `${path}.segmentId`),
    backedUpThrough: decimalU64(object.backedUpThrough, `${path}.backedUpThrough`),
    updatedAtMs: count(object.updatedAtMs, `${path}.updatedAtMs`),
  };
}

// ---------------------------------------------------------------------------------------------------
// Rebuild from storage

/** One segment in a storage node's `GET /v1/status` (storage-node `SegmentStatus`, bigints as strings). */
export interface StorageSegmentReport {
  readonly pgId: number;
  readonly segmentId: string;
  readonly membershipEpoch: DecimalU64;
  readonly members: readonly string[];
  /** `memberNodes[i]` hosts `members[i]`; empty when the node was never told the placement. */
  readonly memberNodes: readonly string[];
  readonly volumeEpoch: DecimalU64;
  readonly sealed: boolean;
}

export interface StorageNodeReport {
  readonly nodeId: string;
  readonly segments: readonly StorageSegmentReport[];
}

export interface RebuildResult {
  /** Undefined when some PG could not be determined (each one is named in `problems`). */
  readonly volume: VolumeRecord | undefined;
  /** The highest volume epoch any segment reported ('0' when none did). */
  readonly volumeEpoch: DecimalU64;
  /** Sentences for a human, PG by PG; also lists what was decided despite oddities. */
  readonly problems: readonly string[];
}

/** Problems listed in full; beyond this the rest are counted in one last line. */
export const MAX_REBUILD_PROBLEMS = 100;

interface Sighting {
  readonly nodeId: string;
  readonly pgId: number;
  readonly segmentId: string;
  readonly membershipEpoch: bigint;
  readonly members: readonly string[];
  readonly memberNodes: readonly string[];
  readonly volumeEpoch: bigint;
}

class Problems {
  readonly listed: string[] = [];
  #unlisted = 0;

  add(problem: string): void {
    if (this.listed.length < MAX_REBUILD_PROBLEMS) this.listed.push(problem);
    else this.#unlisted++;
  }

  all(): string[] {
    return this.#unlisted === 0
      ? [...this.listed]
      : [...this.listed, `… and ${this.#unlisted} more problems`];
  }
}

/**
 * A volume's layout from its storage nodes' reports. For each PG, the membership with the highest
 * membership epoch that a majority of its own members report, each from the node the membership
 * places it on: a member whose node did not report is fine (a zone can be down), and a higher epoch
 * short of a majority is an unfinished membership change that never took effect, noted and skipped.
 * Two different memberships at the same epoch, a PG id no node reports, or a PG no majority vouches
 * for make the volume undefined: the caller must not store a layout with a hole in it.
 */
export function rebuildFromStorage(
  statuses: readonly StorageNodeReport[],
  volumeName: string,
  pagesPerPg: number,
): RebuildResult {
  assert(isValidIdentifier(volumeName), `invalid volume name ${JSON.stringify(volumeName)}`);
  assert(Number.isSafeInteger(pagesPerPg) && pagesPerPg >= 1, `invalid pagesPerPg ${pagesPerPg}`);
  const problems = new Problems();
  const sightings = collectSightings(statuses, problems);
  let volumeEpoch = 0n;
  let pgIdMax = -1;
  const byPg = new Map<number, Sighting[]>();
  for (const sighting of sightings) {
    if (sighting.volumeEpoch > volumeEpoch) volumeEpoch = sighting.volumeEpoch;
    if (sighting.pgId > pgIdMax) pgIdMax = sighting.pgId;
    const group = byPg.get(sighting.pgId);
    if (group === undefined) byPg.set(sighting.pgId, [sighting]);
    else group.push(sighting);
  }
  if (pgIdMax < 0) problems.add('no storage node reported a segment');
  const pgs: PgRecord[] = [];
  for (let pgId = 0; pgId <= pgIdMax; pgId++) {
    const group = byPg.get(pgId);
    const pg = group === undefined ? undefined : resolvePg(pgId, group, problems);
    if (group === undefined) problems.add(`PG ${pgId}: no storage node reported a segment of it`);
    if (pg !== undefined) pgs.push(pg);
  }
  const complete = pgIdMax >= 0 && pgs.length === pgIdMax + 1;
  return {
    volume: complete ? { name: volumeName, pagesPerPg, pgs } : undefined,
    volumeEpoch: volumeEpoch.toString(),
    problems: problems.all(),
  };
}

/** The reports' segments, checked: the reports come over the network and are not trusted. */
function collectSightings(statuses: readonly StorageNodeReport[], problems: Problems): Sighting[] {
  const sightings: Sighting[] = [];
  const nodesSeen = new Set<string>();
  const hostOfSegment = new Map<string, string>();
  for (const [reportIndex, status] of statuses.entries()) {
    if (typeof status.nodeId !== 'string' || !isValidIdentifier(status.nodeId)) {
      problems.add(`report ${reportIndex}: invalid node id ${JSON.stringify(status.nodeId)}; report ignored`);
      continue;
    }
    if (nodesSeen.has(status.nodeId)) {
      problems.add(`node ${status.nodeId}: reported twice; the second report is ignored`);
      continue;
    }
    nodesSeen.add(status.nodeId);
    for (const [index, segment] of (Array.isArray(status.segments) ? status.segments : []).entries()) {
      try {
        const sighting = sightingFrom(status.nodeId, segment, `segments[${index}]`);
        const otherHost = hostOfSegment.get(sighting.segmentId);
        if (otherHost !== undefined) {
          problems.add(`segment ${sighting.segmentId}: reported by both ${otherHost} and ${status.nodeId}`);
        }
        hostOfSegment.set(sighting.segmentId, status.nodeId);
        sightings.push(sighting);
      } catch (error) {
        if (!(error instanceof InvalidDocument)) throw error;
        problems.add(`node ${status.nodeId}: ${error.message}; segment ignored`);
      }
    }
  }
  return sightings;
}

function sightingFrom(nodeId: string, value: unknown, path: string): Sighting {
  // A status report carries much more (SCL, heat, backup progress); only these fields matter here.
  const segment = fields(
    value,
    path,
    ['pgId', 'segmentId', 'membershipEpoch', 'members', 'memberNodes', 'volumeEpoch'],
    'any',
  );
  const pgId = count(segment.pgId, `${path}.pgId`);
  if (pgId >= MAX_PGS_PER_VOLUME)
    throw new InvalidDocument(`${path}.pgId: ${pgId} is beyond ${MAX_PGS_PER_VOLUME - 1}`);
  const members = distinctIdentifiers(segment.members, `${path}.members`);
  const memberNodes = list(segment.memberNodes, `${path}.memberNodes`).map((node, index) =>
    identifier(node, `${path}.memberNodes[${index}]`),
  );
  if (members.length === 0) throw new InvalidDocument(`${path}.members: empty`);
  if (memberNodes.length !== 0 && memberNodes.length !== members.length) {
    throw new InvalidDocument(
      `${path}.memberNodes: ${memberNodes.length} nodes for ${members.length} members`,
    );
  }
  return {
    nodeId,
    pgId,
    segmentId: identifier(segment.segmentId, `${path}.segmentId`),
    membershipEpoch: BigInt(decimalU64(segment.membershipEpoch, `${path}.membershipEpoch`)),
    members,
    memberNodes,
    volumeEpoch: BigInt(decimalU64(segment.volumeEpoch, `${path}.volumeEpoch`)),
  };
}

/** One membership (epoch and member list) as reported by one or more segments of a PG. */
interface Candidate {
  readonly membershipEpoch: bigint;
  readonly members: readonly string[];
  /** The first non-empty placement reported with it; undefined while none was. */
  memberNodes: readonly string[] | undefined;
  placementConflict: boolean;
  readonly sightings: Sighting[];
}

function candidatesOf(sightings: readonly Sighting[]): Candidate[] {
  const byMembership = new Map<string, Candidate>();
  for (const sighting of sightings) {
    const key = `${sighting.membershipEpoch} ${sighting.members.join(',')}`;
    let candidate = byMembership.get(key);
    if (candidate === undefined) {
      candidate = {
        membershipEpoch: sighting.membershipEpoch,
        members: sighting.members,
        memberNodes: undefined,
        placementConflict: false,
        sightings: [],
      };
      byMembership.set(key, candidate);
    }
    candidate.sightings.push(sighting);
    // A segment told its membership without the placement reports no nodes; that is no conflict.
    if (sighting.memberNodes.length === 0) continue;
    if (candidate.memberNodes === undefined) candidate.memberNodes = sighting.memberNodes;
    else if (candidate.memberNodes.join(',') !== sighting.memberNodes.join(','))
      candidate.placementConflict = true;
  }
  return [...byMembership.values()].sort((a, b) =>
    a.membershipEpoch === b.membershipEpoch ? 0 : a.membershipEpoch > b.membershipEpoch ? -1 : 1,
  );
}

/** The members that vouch for `candidate`: its own segments, each reported from its placed node. */
function supportersOf(pgId: number, candidate: Candidate, problems: Problems): Set<string> {
  const supporters = new Set<string>();
  for (const sighting of candidate.sightings) {
    const index = candidate.members.indexOf(sighting.segmentId);
    if (index < 0) continue; // a segment that learned a membership it is not part of
    const placedOn = candidate.memberNodes?.[index];
    if (placedOn !== undefined && placedOn !== sighting.nodeId) {
      problems.add(
        `PG ${pgId}: segment ${sighting.segmentId} is reported by ${sighting.nodeId}, but membership epoch ` +
          `${candidate.membershipEpoch} places it on ${placedOn}; not counted`,
      );
      continue;
    }
    supporters.add(sighting.segmentId);
  }
  return supporters;
}

function resolvePg(pgId: number, sightings: readonly Sighting[], problems: Problems): PgRecord | undefined {
  const candidates = candidatesOf(sightings);
  for (let index = 0; index < candidates.length; index++) {
    const candidate = candidates[index]!;
    const rival = candidates[index + 1];
    const epoch = candidate.membershipEpoch;
    if (rival?.membershipEpoch === epoch || candidate.placementConflict) {
      // Storage bumps the epoch on every change, so this is a bug or a split brain: a human decides.
      problems.add(`PG ${pgId}: conflicting memberships at membership epoch ${epoch}; PG not rebuilt`);
      return undefined;
    }
    const supporters = supportersOf(pgId, candidate, problems);
    const majority = Math.floor(candidate.members.length / 2) + 1;
    if (supporters.size >= majority) return pgRecordOf(pgId, candidate, problems);
    problems.add(
      `PG ${pgId}: membership epoch ${epoch} is reported by ${supporters.size} of its ` +
        `${candidate.members.length} members, short of a majority (${majority}); not used`,
    );
  }
  problems.add(`PG ${pgId}: no membership is reported by a majority of its members; PG not rebuilt`);
  return undefined;
}

function pgRecordOf(pgId: number, candidate: Candidate, problems: Problems): PgRecord | undefined {
  const reporters = new Map(candidate.sightings.map((sighting) => [sighting.segmentId, sighting.nodeId]));
  const nodes = candidate.memberNodes ?? candidate.members.map((member) => reporters.get(member));
  const unplaced = candidate.members.filter((_member, index) => nodes[index] === undefined);
  if (unplaced.length > 0) {
    problems.add(
      `PG ${pgId}: no report says where ${unplaced.join(', ')} live (segments know no placement); PG not rebuilt`,
    );
    return undefined;
  }
  return {
    pgId,
    membershipEpoch: candidate.membershipEpoch.toString(),
    members: [...candidate.members],
    nodes: nodes.map((node) => node!),
  };
}
