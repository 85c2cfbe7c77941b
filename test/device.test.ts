// Device discovery (engine/device.ts): the adapter is found and described; with none, the error says how to get one.

import { describe, expect, it } from 'vitest';
import { acquireDevice, describeAdapter, NO_ADAPTER_MESSAGE, NoAdapterError, PREREQUISITES_COMMAND, runtime } from '../engine/index.ts';
import { useDevice } from './helpers.ts';

useDevice();

describe('device', () => {
  it('reports the adapter: vendor, architecture, limits and features', () => {
    const report = runtime().report;
    expect(report.vendor.length).toBeGreaterThan(0);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(report.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(Array.isArray(report.features)).toBe(true);
    expect(describeAdapter(report)).toContain(report.vendor);
  });

  it('the no-adapter error names the command that installs SwiftShader', async () => {
    expect(NO_ADAPTER_MESSAGE).toContain(PREREQUISITES_COMMAND);
    if (runtime().report.software) {
      // On a machine with only SwiftShader, refusing software adapters leaves none.
      await expect(acquireDevice({ adapter: 'hardware' })).rejects.toThrow(NoAdapterError);
      await expect(acquireDevice({ adapter: 'hardware' })).rejects.toThrow(PREREQUISITES_COMMAND);
    }
  });
});

describe('Vulkan drivers on Linux', () => {
  it("Mesa's lavapipe, which this Dawn refuses with a warning, is left out of the probe; a real driver beside it is kept", async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { temporaryDirectory } = await import('./helpers.ts');
    const { vulkanDrivers } = await import('../engine/device.ts');
    const data = temporaryDirectory('hiero-icd');
    mkdirSync(join(data, 'vulkan', 'icd.d'), { recursive: true });
    writeFileSync(join(data, 'vulkan', 'icd.d', 'lvp_icd.x86_64.json'), '{}');
    const env = { HOME: data, XDG_DATA_HOME: data, XDG_CONFIG_HOME: join(data, 'none'), XDG_CONFIG_DIRS: join(data, 'none'), XDG_DATA_DIRS: join(data, 'none') };
    const alone = await vulkanDrivers(env);
    expect(alone.refused).toEqual([join(data, 'vulkan', 'icd.d', 'lvp_icd.x86_64.json')]);
    expect(alone.usable.filter((f) => f.startsWith(data))).toEqual([]);
    writeFileSync(join(data, 'vulkan', 'icd.d', 'nvidia_icd.json'), '{}');
    const beside = await vulkanDrivers(env);
    expect(beside.usable).toContain(join(data, 'vulkan', 'icd.d', 'nvidia_icd.json'));
    expect(beside.usable.some((f) => /lvp_icd/.test(f))).toBe(false);
    expect((await vulkanDrivers({ ...env, VK_ICD_FILENAMES: '/x.json' })).named).toBe(true);
  });
});
