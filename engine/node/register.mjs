// `node --import tsx --import ./engine/node/register.mjs app.ts`: registers the ?raw hook after tsx's, so it runs first.
import { register } from 'node:module';
register('./raw-loader.mjs', import.meta.url);
