// The arrow-pointing task (pLSTM, Pöppel et al. 2025, after Linsley et al.'s pathfinder-style probes), generated
// offline: a one-channel image holds an arrow (a shaft with a head at one end) and a dot; the label says whether the
// arrow points at the dot. The arrow keeps its size at every image size while the dot may lie anywhere, so a model
// trained on small images is tested on larger ones at longer range (extrapolation). Half the images are positive
// (the dot on the arrow's ray, within the width of the shaft), half negative (the dot at least 25° off the ray).
// Every image is a pure function of (size, split, index). Tests: test/plstm.test.ts.

import { Random } from '../tasks/common.ts';

export interface ArrowImage {
  size: number;
  /** size × size pixels, row-major, 0 or 1. */
  pixels: Float32Array;
  /** 1: the arrow points at the dot. */
  label: number;
}

const SHAFT = 6;

function draw(pixels: Float32Array, size: number, x: number, y: number): void {
  const [px, py] = [Math.round(x), Math.round(y)];
  if (px >= 0 && py >= 0 && px < size && py < size) pixels[py * size + px] = 1;
}

function arrowImage(size: number, seed: number): ArrowImage {
  const r = new Random(seed);
  for (;;) {
    const pixels = new Float32Array(size * size);
    const angle = 2 * Math.PI * r.next();
    const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
    const [tx, ty] = [2 + r.next() * (size - 5), 2 + r.next() * (size - 5)]; // the tip
    const [ex, ey] = [tx - dx * SHAFT, ty - dy * SHAFT]; // the tail, inside the image too
    if (ex < 1 || ey < 1 || ex > size - 2 || ey > size - 2) continue;
    const positive = r.next() < 0.5;
    // The dot: on the ray ahead of the tip (positive), or off it by at least 25° in a random direction (negative).
    const offset = positive ? 0 : Math.PI / 7.2 + r.next() * (2 * Math.PI - 2 * Math.PI / 7.2);
    const dotAngle = angle + (positive ? 0 : offset);
    const distance = 3 + r.next() * size;
    const [ox, oy] = [tx + Math.cos(dotAngle) * distance, ty + Math.sin(dotAngle) * distance];
    if (ox < 1 || oy < 1 || ox > size - 2 || oy > size - 2) continue;
    if (Math.hypot(ox - (tx - dx * SHAFT / 2), oy - (ty - dy * SHAFT / 2)) < SHAFT / 2 + 2) continue; // the dot clear of the arrow
    for (let s = 0; s <= SHAFT; s += 0.5) draw(pixels, size, tx - dx * s, ty - dy * s);
    // The head: two barbs back from the tip at ±35°.
    for (const side of [-1, 1]) {
      const b = angle + Math.PI + side * 0.6;
      for (let s = 0.5; s <= 3; s += 0.5) draw(pixels, size, tx + Math.cos(b) * s, ty + Math.sin(b) * s);
    }
    for (const [ax, ay] of [[0, 0], [1, 0], [0, 1], [1, 1]]) draw(pixels, size, ox + ax - 0.5, oy + ay - 0.5);
    return { size, pixels, label: positive ? 1 : 0 };
  }
}

export type ArrowSplit = 'train' | 'held-out';

/** Images `first` … `first + count − 1` of a split at one size. */
export function arrowImages(size: number, split: ArrowSplit, count: number, first = 0): ArrowImage[] {
  if (!Number.isInteger(size) || size < 12) throw new RangeError(`arrow images need a size of at least 12 pixels, got ${size}`);
  return Array.from({ length: count }, (_, i) => arrowImage(size, ((split === 'train' ? 0x0a770 : 0x7e570000) + size * 1_000_003 + (first + i) * 7919) >>> 0));
}

/** Images cut into patch × patch tiles in raster order: [count, (size/patch)², patch²] as one array. */
export function patchify(images: readonly ArrowImage[], patch: number): Float32Array {
  const size = images[0].size;
  if (size % patch !== 0) throw new RangeError(`an image of ${size} pixels is not whole patches of ${patch}`);
  const side = size / patch;
  const out = new Float32Array(images.length * size * size);
  images.forEach((image, n) => {
    for (let px = 0; px < side; px++) for (let py = 0; py < side; py++) {
      const cell = px * side + py;
      for (let i = 0; i < patch; i++) for (let j = 0; j < patch; j++) {
        out[((n * side * side + cell) * patch + i) * patch + j] = image.pixels[(py * patch + j) * size + px * patch + i];
      }
    }
  });
  return out;
}
