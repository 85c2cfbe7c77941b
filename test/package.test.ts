// Hiero as a dependency: the package build (npm run build:lib) gives plain ES modules and declarations behind the
// exports map, and an app in another directory runs the README's Node example as written (it solves a puzzle with
// the shipped solver in a worker thread) and type-checks against `hiero/worker`.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { temporaryDirectory } from './helpers.ts';

const root = resolve('.');

/** The code block that follows `<!-- example: NAME -->` in the README. */
function readmeExample(name: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- example: ${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match) throw new Error(`README.md has no example '${name}'`);
  return match[1];
}

describe('the package', () => {
  it('builds, and an app runs the README\'s worker example in Node and type-checks against hiero/worker', () => {
    execFileSync('npm', ['run', '--silent', 'build:lib'], { cwd: root, stdio: 'pipe' });
    const app = temporaryDirectory('hiero-app');
    mkdirSync(join(app, 'node_modules'));
    symlinkSync(root, join(app, 'node_modules', 'hiero'), 'dir');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));

    const example = readmeExample('worker-node');
    writeFileSync(join(app, 'app.mjs'), example);
    const output = execFileSync('node', ['app.mjs'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    // The shipped 4×4 solver answers with a full grid and says where it halts.
    expect(output).toMatch(/^([1-4] ){1}/m);
    expect(output).toMatch(/segment/);

    writeFileSync(join(app, 'typed.ts'), `${example}\nconst typed: number | null = result.haltSegment;\nvoid typed;\n`);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['ES2022', 'DOM'] },
      files: ['typed.ts'],
    }));
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app, stdio: 'pipe' });
  }, 300_000);
});
