// The HRM-Text row (model/hrm-text.ts): the HRM's modules as an instruction-following byte LM, trained on generated
// instructions (model/data/instructions.ts) by default, with the ablation's options: --objective answer|all,
// --mask prefix|causal, --architecture hrm|transformer.

import { backpropWindow, HRMTextLM, moduleCalls, type HRMTextConfig } from '../hrm-text.ts';
import { textKind } from './text.ts';
import { checkFields, oneOf, positiveNumber, wholeNumber } from './validate.ts';

const config = (dim: number, layers: number, mlpHidden: number): HRMTextConfig => ({
  vocab: 256, dim, heads: 4, hLayers: layers, lLayers: layers, hCycles: 2, lCalls: 3, mlpHidden, ropeBase: 10000, normEps: 1e-5,
  mask: 'prefix', architecture: 'hrm', bp: { from: 2, to: 5, warmup: 0.2 }, magicNorm: true,
});

/** Block applications per byte forward, and those a training step's backward runs through (after the ramp). */
function blockCalls(c: HRMTextConfig): { forward: number; backward: number } {
  if (c.architecture === 'transformer') {
    const blocks = c.hCycles * (c.lCalls * c.lLayers + c.hLayers);
    return { forward: blocks, backward: blocks };
  }
  const calls = moduleCalls(c);
  const window = calls.slice(calls.length - backpropWindow(c, 1));
  const layers = (list: string[]) => list.reduce((n, call) => n + (call === 'L' ? c.lLayers : c.hLayers), 0);
  return { forward: layers(calls), backward: layers(window) };
}

export const hrmTextKind = textKind<HRMTextConfig, HRMTextLM>({
  kind: 'hrm-text',
  title: 'HRM-Text',
  summary: "HRM-Text: the HRM's H and L modules as an instruction-following byte LM (MagicNorm, a widening backprop window, PrefixLM; Sapient 2026)",
  // tiny's 3e-3 is the other tiny text kinds' (measured on SwiftShader); small's 1e-3 is not yet run (no GPU was lent).
  presets: {
    tiny: { config: config(64, 1, 128), lr: 3e-3, summary: 'width 64, one block per module, 2 x (3 L + 1 H) calls' },
    small: { config: config(256, 2, 704), lr: 1e-3, summary: 'width 256, two blocks per module, for a GPU' },
  },
  requests: ['generate'],
  defaultTask: 'instructions',
  options: ['mask', 'architecture', 'magic-norm', 'bp-warmup'],
  configure: (c, values) => ({
    ...c,
    ...(values.mask !== undefined ? { mask: values.mask as HRMTextConfig['mask'] } : {}),
    ...(values.architecture !== undefined ? { architecture: values.architecture as HRMTextConfig['architecture'] } : {}),
    ...(values['magic-norm'] !== undefined ? { magicNorm: values['magic-norm'] === 'on' } : {}),
    ...(values['bp-warmup'] !== undefined ? { bp: { ...c.bp, warmup: values['bp-warmup'] as number } } : {}),
  }),
  validate: (given) => {
    // Checkpoints saved before MagicNorm could be turned off had it on.
    const c = given && typeof given === 'object' && (given as Partial<HRMTextConfig>).magicNorm === undefined ? { ...given, magicNorm: true } : given;
    const checked = checkFields<HRMTextConfig>('HRM-Text', c, {
      vocab: wholeNumber(256, 256), dim: wholeNumber(2, 8192), heads: wholeNumber(1, 256), hLayers: wholeNumber(1, 64), lLayers: wholeNumber(1, 64),
      hCycles: wholeNumber(1, 16), lCalls: wholeNumber(1, 16), mlpHidden: wholeNumber(1, 65536), ropeBase: positiveNumber, normEps: positiveNumber,
      mask: oneOf('prefix', 'causal'), architecture: oneOf('hrm', 'transformer'), magicNorm: (v) => (typeof v === 'boolean' ? null : `must be true or false, got ${JSON.stringify(v)}`),
      bp: (v) => {
        const bp = v as HRMTextConfig['bp'] | undefined;
        if (!bp || typeof bp !== 'object') return 'must be { from, to, warmup }';
        if (!Number.isInteger(bp.from) || !Number.isInteger(bp.to) || bp.from < 1 || bp.to < bp.from) return `from and to must be whole numbers with 1 <= from <= to, got ${JSON.stringify(bp)}`;
        return bp.warmup >= 0 && bp.warmup <= 1 ? null : `warmup must be a share of training from 0 to 1, got ${bp.warmup}`;
      },
    });
    checkFields('HRM-Text', c, { heads: (h) => (checked.dim % (h as number) === 0 && checked.dim / (h as number) <= 128 ? null : `must divide dim ${checked.dim} into heads of at most 128 channels`) });
    return checked;
  },
  build: (c) => new HRMTextLM(c),
  describe: (c, parameters) => {
    const { forward, backward } = blockCalls(c);
    const body = c.architecture === 'hrm'
      ? `H and L modules of ${c.hLayers} and ${c.lLayers} blocks, ${c.hCycles} x (${c.lCalls} L + 1 H) calls, backprop through the last ${c.bp.from} -> ${c.bp.to} calls (first ${Math.round(100 * c.bp.warmup)} % of training), ${c.magicNorm ? 'MagicNorm' : 'no MagicNorm'}`
      : `the ablation's Transformer: ${forward} blocks once each (the HRM's forward block calls)`;
    return `HRM-Text, width ${c.dim}, ${c.heads} heads, ${body}, ${c.mask === 'prefix' ? 'PrefixLM' : 'causal'} mask, ${forward} block calls forward and ${backward} backward per byte, ${parameters.toLocaleString('en')} parameters`;
  },
  flopsPerByte: (c) => {
    const { forward, backward } = blockCalls(c);
    const block = 4 * c.dim * c.dim + 3 * c.dim * c.mlpHidden;
    return 2 * forward * block + 4 * backward * block + 6 * c.dim * 256;
  },
});
