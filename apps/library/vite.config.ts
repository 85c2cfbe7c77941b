// The package build (`npm run build:lib`, run by npm's prepare on install): plain ES modules in dist/lib that work
// in browsers and in Node with no loader, the WGSL inlined from shaders/ (still the one source of truth), and
// declarations in dist/lib/types (apps/library/tsconfig.json). Entry points, as package.json's exports names them:
//   hiero          dist/lib/index.js           the engine (engine/index.ts)
//   hiero/worker   dist/lib/worker.js          createHieroWorker (apps/worker/client.ts)
//                  dist/lib/worker-thread.js   the worker itself, which the client starts (apps/worker/worker.ts)

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const top = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root: top,
  publicDir: false,
  base: './', // the browser worker's URL is relative to the module that starts it
  worker: { format: 'es' },
  build: {
    outDir: resolve(top, 'dist/lib'),
    emptyOutDir: false, // dist/lib/types comes from tsc
    target: 'es2022',
    minify: false,
    sourcemap: true,
    lib: {
      entry: {
        index: resolve(top, 'engine/index.ts'),
        worker: resolve(top, 'apps/worker/client.ts'),
        'worker-thread': resolve(top, 'apps/worker/worker.ts'),
      },
      formats: ['es'],
    },
    rollupOptions: {
      external: [/^node:/, 'webgpu', 'comlink', /^comlink\//],
      // One directory: the client finds ./worker-thread.js beside itself.
      output: { entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
    },
  },
});
