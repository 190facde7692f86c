/** Real adapters of the environment interfaces (`core/env.ts`) for processes running on Node. */
export { NodeClock } from './node-clock.js';
export { NodeDisk } from './node-disk.js';
export { JsonLineLogger } from './node-logger.js';
export { NodeRandom } from './node-random.js';
