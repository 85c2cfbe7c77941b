// Headless Chromium with WebGPU on whatever adapter it finds (SwiftShader on a GPU-less machine), for the browser
// tests and the playground's smoke check. Debian's chromium, driven by playwright-core (no browser download).

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { PREREQUISITES_COMMAND } from '../engine/device.ts';

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  // The machine's network is closed: keep Chromium from trying to reach Google's services at start.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--disable-default-apps',
];

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.HIERO_CHROMIUM ?? CHROMIUM_PATHS.find((p) => existsSync(p));
  if (!executablePath) {
    throw new Error(`No Chromium found (looked in ${CHROMIUM_PATHS.join(', ')}). Install it with \`${PREREQUISITES_COMMAND}\`.`);
  }
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}
