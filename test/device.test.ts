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
