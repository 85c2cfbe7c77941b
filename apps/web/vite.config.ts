// The playground's build: `npm run web` (dev server, hot reload), `npm run build:web` (static site in dist/web that
// works from any static host under any sub-path: base './'). The solvers and the H-Net that ship in
// model/checkpoints are served under checkpoints/ in development and copied there in the build.

import { cpSync, createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const shipped = resolve(root, '../../model/checkpoints');

function shippedCheckpoints(): Plugin {
  let outDir = '';
  return {
    name: 'hiero-shipped-checkpoints',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use('/checkpoints', (req, res, next) => {
        const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0])).replace(/^(\.\.[/\\])+/, '');
        const file = join(shipped, path);
        if (!file.startsWith(shipped) || !existsSync(file) || !statSync(file).isFile()) return next();
        res.setHeader('content-type', extname(file) === '.json' ? 'application/json' : 'application/octet-stream');
        createReadStream(file).pipe(res);
      });
    },
    closeBundle() {
      if (existsSync(shipped)) cpSync(shipped, join(outDir, 'checkpoints'), { recursive: true });
    },
  };
}

export default defineConfig({
  root,
  base: './',
  plugins: [shippedCheckpoints()],
  // The worker uses top-level await and ES modules.
  worker: { format: 'es' },
  build: { outDir: resolve(root, '../../dist/web'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
  server: { fs: { allow: [resolve(root, '../..')] } },
});
