/** Registers the simulator's workloads; the CLI imports this module for its side effect. */
import { registerWorkload } from '../registry.js';
import { QUICK_PROFILE, quorumWriterWorkload } from './quorum-writer/workload.js';

/** The long form: 5 s of virtual time per seed, for campaigns (`npm run sim:campaign`). */
registerWorkload(quorumWriterWorkload(), { isDefault: true });
registerWorkload(quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' }));
