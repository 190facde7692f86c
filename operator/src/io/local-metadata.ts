/**
 * What the local platform keeps in the embedded metadata directory (`<data dir>/metadata.json`, the
 * FileMetadataStore): which engine is the writer — after a failover it is no longer the spec's first,
 * and a second `up` must start that one as writer —, the volume's PG layouts as last observed, and
 * the journal of repairs.
 * Every write is a read-modify-write at the read revision, retried on a conflict.
 */
import {
  isMetadataConflict,
  type MetadataContent,
  type MetadataStore,
  type VolumeRecord,
  type WorkflowRecord,
} from '../core/metadata.js';
import { FileMetadataStore } from './file-metadata.js';

const CONFLICT_RETRIES_MAX = 5;

export interface LocalMetadata {
  writer(): Promise<string | undefined>;
  recordWriter(writer: string): Promise<void>;
  recordVolume(volume: VolumeRecord): Promise<void>;
  /** Adds a repair or migration to the journal, or replaces the entry with its id. */
  recordWorkflow(workflow: WorkflowRecord): Promise<void>;
  readonly store: MetadataStore;
  close(): Promise<void>;
}

export async function openLocalMetadata(dataDir: string): Promise<LocalMetadata> {
  const store = new FileMetadataStore(dataDir);
  const update = async (change: (content: MetadataContent) => MetadataContent | undefined) => {
    for (let attempt = 0; ; attempt++) {
      const snapshot = await store.read();
      const next = change(snapshot);
      if (next === undefined) return;
      try {
        await store.write(snapshot.revision, next);
        return;
      } catch (error) {
        if (!isMetadataConflict(error) || attempt >= CONFLICT_RETRIES_MAX) throw error;
      }
    }
  };
  return {
    store,
    writer: async () => (await store.read()).cluster.writer,
    recordWriter: (writer) =>
      update((content) =>
        content.cluster.writer === writer
          ? undefined
          : { ...content, cluster: { ...content.cluster, writer } },
      ),
    recordVolume: (volume) =>
      update((content) => {
        const current = content.volumes.find((candidate) => candidate.name === volume.name);
        if (current !== undefined && JSON.stringify(current) === JSON.stringify(volume)) return undefined;
        return {
          ...content,
          volumes: [...content.volumes.filter((candidate) => candidate.name !== volume.name), volume],
        };
      }),
    recordWorkflow: (workflow) =>
      update((content) => {
        const kept = content.workflows.filter((candidate) => candidate.id !== workflow.id);
        return { ...content, workflows: [...kept, workflow] };
      }),
    close: () => store.close(),
  };
}
