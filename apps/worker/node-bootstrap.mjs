// A Node worker thread started from the TypeScript sources (this repository, not the built package): Node 20 does
// not apply `--import` loader hooks to a worker's entry file, so this plain module registers tsx and the WGSL ?raw
// loader (engine/node/register.mjs's pair, in the same order) and then imports the worker itself.
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('../../engine/node/raw-loader.mjs', import.meta.url);
await import(workerData.entry);
