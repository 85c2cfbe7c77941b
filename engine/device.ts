// Finding a WebGPU adapter and opening a device, in a browser (navigator.gpu) or in Node (Dawn, via the `webgpu`
// package, imported dynamically so browser bundles never contain it). A real GPU is tried first; in Node the
// SwiftShader CPU driver that Debian's chromium package ships is the fallback.

import { NoAdapterError } from './errors.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
export const PREREQUISITES_COMMAND = 'apt-get install -y chromium libvulkan1';
export const NO_ADAPTER_MESSAGE =
  'No WebGPU adapter found. Hiero needs a GPU with Vulkan/Metal/D3D12 drivers, or the SwiftShader CPU driver: ' +
  `on Debian/Ubuntu run \`${PREREQUISITES_COMMAND}\` (as root), which provides ${SWIFTSHADER_ICD}. ` +
  'In a browser, use one with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).';

export interface AdapterReport {
  runtime: 'browser' | 'node';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True when running on a CPU implementation (SwiftShader): correct, but slow. */
  software: boolean;
  /** True on Dawn's null backend: commands are validated, never run (host-cost measurement only). */
  nullBackend?: boolean;
  /** Why a CPU driver was chosen when no GPU was found (for a one-line notice), if that is what happened. */
  fallback?: string;
  limits: Record<string, number>;
  features: string[];
  /** The smallest subgroup the adapter runs, where it has the subgroups feature (SwiftShader: 4). */
  subgroupMinSize?: number;
}

export interface DeviceOptions {
  /**
   * 'auto' (default): real GPU first, SwiftShader fallback. 'software': SwiftShader only. 'hardware': never SwiftShader.
   * 'null' (Node only): Dawn's null backend, which validates and encodes every call but runs nothing; it measures
   * Hiero's own host cost per dispatch with no GPU work competing for the CPU (values read back are meaningless).
   */
  adapter?: 'auto' | 'software' | 'hardware' | 'null';
  powerPreference?: GPUPowerPreference;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  report: AdapterReport;
  /** Drops the device and, in Node, Dawn's instance, so the process can exit. */
  release(): void;
}

// The limits Hiero raises to the adapter's maximum; everything else stays at WebGPU's defaults.
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as GPUFeatureName[];

function isSoftware(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return text.includes('swiftshader') || text.includes('llvmpipe') || text.includes('lavapipe');
}

interface NodeGpu {
  gpu: GPU;
}

/**
 * Dawn quantizes GPU timestamps (to ~65 µs on NVIDIA) unless told not to; Hiero's profiler and bench time kernels
 * of a few microseconds, so Node devices are created with true timestamps. (Browsers keep their own quantization:
 * there, short kernels are timed by repetition.)
 */
const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

async function nodeGpu(flags: string[] = []): Promise<NodeGpu> {
  // A computed specifier keeps bundlers from following this import into browser builds.
  const specifier = 'webgpu';
  const mod = (await import(/* @vite-ignore */ specifier)) as {
    create(flags: string[]): GPU;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, mod.globals);
  return { gpu: mod.create([...DAWN_FLAGS, ...flags]) };
}

function nodeEnv(): Record<string, string | undefined> | undefined {
  const proc = (globalThis as { process?: { env: Record<string, string | undefined>; versions?: { node?: string } } })
    .process;
  return proc?.versions?.node ? proc.env : undefined;
}

/**
 * The Vulkan drivers (ICD files) the loader would find on Linux, and which of them this Dawn can use. Probing Dawn's
 * Vulkan backend without a driver prints three alarming lines ("Found no drivers!", VK_ERROR_INCOMPATIBLE_DRIVER)
 * before the SwiftShader fallback takes over; with Mesa's lavapipe CPU driver installed (Ubuntu desktops ship it),
 * Dawn refuses it (it lacks shaderUniform*ArrayDynamicIndexing) with a three-line warning. So the probe is made only
 * when a usable driver exists, and with lavapipe left out of the loader's list. The loader reads the files named by
 * VK_DRIVER_FILES / VK_ICD_FILENAMES / VK_ADD_DRIVER_FILES, else every .json in the icd.d directories of the XDG
 * config and data paths and /etc/vulkan. Elsewhere (macOS, Windows) Dawn uses Metal or D3D12 and the probe is
 * quiet: `named` is then true and the lists empty.
 */
export async function vulkanDrivers(env: Record<string, string | undefined>): Promise<{ named: boolean; usable: string[]; refused: string[] }> {
  const platform = (globalThis as { process?: { platform?: string } }).process?.platform;
  if (platform !== 'linux' || env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES || env.VK_ADD_DRIVER_FILES) return { named: true, usable: [], refused: [] };
  const fsName = 'node:fs';
  const fs = (await import(/* @vite-ignore */ fsName)) as { readdirSync(p: string): string[] };
  const home = env.HOME ?? '';
  const configDirs = [env.XDG_CONFIG_HOME ?? `${home}/.config`, ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'), '/etc'];
  const dataDirs = [env.XDG_DATA_HOME ?? `${home}/.local/share`, ...(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':')];
  const usable: string[] = [];
  const refused: string[] = [];
  for (const base of [...configDirs, ...dataDirs]) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(`${base}/vulkan/icd.d`);
    } catch {
      continue; // no such directory
    }
    for (const name of names.filter((f) => f.endsWith('.json'))) (/^lvp_icd/.test(name) ? refused : usable).push(`${base}/vulkan/icd.d/${name}`);
  }
  return { named: false, usable, refused };
}

async function fileExists(path: string): Promise<boolean> {
  const specifier = 'node:fs';
  const fs = (await import(/* @vite-ignore */ specifier)) as { existsSync(p: string): boolean };
  return fs.existsSync(path);
}

/**
 * Node worker threads get a copy of process.env that native code never reads, so a worker cannot point the Vulkan
 * loader at SwiftShader by itself. Called on the main thread before a worker starts: when the worker's search would
 * need the fallback (no Vulkan GPU driver installed, or mode 'software'), the real environment names SwiftShader.
 */
export async function prepareWorkerDrivers(mode?: DeviceOptions['adapter']): Promise<void> {
  const env = nodeEnv();
  if (!env) return;
  const chosen = mode ?? ((env.HIERO_ADAPTER as DeviceOptions['adapter']) || 'auto');
  env.XDG_RUNTIME_DIR ??= '/tmp';
  if (env.VK_ICD_FILENAMES || chosen === 'hardware' || chosen === 'null') return;
  const drivers = await vulkanDrivers(env);
  if ((chosen === 'software' || (!drivers.named && drivers.usable.length === 0)) && (await fileExists(SWIFTSHADER_ICD))) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  } else if (!drivers.named && drivers.refused.length > 0 && drivers.usable.length > 0) {
    env.VK_ICD_FILENAMES = drivers.usable.join(':');
  }
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const mode = options.adapter ?? ((nodeEnv()?.HIERO_ADAPTER as DeviceOptions['adapter']) || 'auto');
  const request: GPURequestAdapterOptions = { powerPreference: options.powerPreference ?? 'high-performance' };
  const browserGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  let holder: NodeGpu | undefined;
  let adapter: GPUAdapter | null = null;
  let runtime: AdapterReport['runtime'];
  let fallback: string | undefined;

  if (browserGpu) {
    runtime = 'browser';
    adapter = await browserGpu.requestAdapter(request);
  } else {
    const env = nodeEnv();
    if (!env) throw new NoAdapterError(NO_ADAPTER_MESSAGE);
    runtime = 'node';
    // The SwiftShader driver is off while a real GPU is sought, so 'auto' never picks it over hardware.
    const userIcd = env.VK_ICD_FILENAMES;
    env.XDG_RUNTIME_DIR ??= '/tmp';
    if (mode === 'null') {
      holder = await nodeGpu(['backend=null']);
      adapter = await holder.gpu.requestAdapter(request);
    } else if (mode !== 'software') {
      const drivers = await vulkanDrivers(env);
      // Lavapipe left out of the loader's list: this Dawn refuses it, with a warning nobody needs to see.
      if (!drivers.named && drivers.refused.length > 0 && drivers.usable.length > 0) env.VK_ICD_FILENAMES = drivers.usable.join(':');
      if (drivers.named || drivers.usable.length > 0) {
        holder = await nodeGpu();
        adapter = await holder.gpu.requestAdapter(request);
        if (adapter && isSoftware(adapter.info) && mode === 'hardware') adapter = null;
        if (!adapter) fallback = 'no GPU adapter answered';
      } else {
        fallback = drivers.refused.length > 0
          ? 'the only Vulkan driver installed is Mesa\'s lavapipe (a CPU driver this Dawn cannot use)'
          : 'no Vulkan GPU driver is installed (no ICD file in the Vulkan loader\'s icd.d directories)';
      }
    }
    if (!adapter && mode !== 'hardware' && mode !== 'null' && (await fileExists(SWIFTSHADER_ICD))) {
      env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      holder = await nodeGpu();
      adapter = await holder.gpu.requestAdapter(request);
      if (userIcd === undefined && !adapter) delete env.VK_ICD_FILENAMES;
    }
  }
  if (!adapter) throw new NoAdapterError(NO_ADAPTER_MESSAGE);

  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  if (mode === 'null') hollow(device);

  const limits: Record<string, number> = {};
  for (const key in device.limits) {
    const value = (device.limits as unknown as Record<string, number>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  if (mode === 'null') {
    // As a meta device it plans for a large GPU: storage bindings and buffers of up to 2 GiB.
    limits.maxStorageBufferBindingSize = limits.maxBufferSize = 2 ** 31;
  }
  const info = adapter.info;
  const report: AdapterReport = {
    runtime,
    vendor: info.vendor || (mode === 'null' ? 'Dawn null backend (runs nothing)' : 'unknown'),
    architecture: info.architecture || 'unknown',
    device: info.device || '',
    description: info.description || '',
    software: isSoftware(info),
    ...(mode === 'null' ? { nullBackend: true } : {}),
    ...(fallback && isSoftware(info) ? { fallback } : {}),
    limits,
    features: [...device.features].map(String).sort(),
    ...(device.features.has('subgroups') && info.subgroupMinSize ? { subgroupMinSize: info.subgroupMinSize } : {}),
  };
  return {
    device,
    adapter,
    report,
    release() {
      device.destroy();
      holder = undefined;
    },
  };
}

/** Bytes the null backend really allocates per buffer (see hollow). */
const HOLLOW_BYTES = 1 << 18;

/**
 * The null backend runs nothing, so buffer contents never matter; but it caps its memory at 512 MiB. Hollowing its
 * buffers (each really HOLLOW_BYTES at most, transfers that do not fit skipped) lets Hiero's own accounting, which
 * records the sizes it asked for, measure a model of any size: a meta device for memory planning. Reading back a
 * tensor larger than HOLLOW_BYTES fails there.
 */
function hollow(device: GPUDevice): void {
  const createBuffer = device.createBuffer.bind(device);
  // Buffers mapped at creation are written by the host right away (upload staging): those keep their size.
  device.createBuffer = (descriptor) =>
    createBuffer(descriptor.mappedAtCreation ? descriptor : { ...descriptor, size: Math.min(descriptor.size, HOLLOW_BYTES) });
  const queue = device.queue;
  const writeBuffer = queue.writeBuffer.bind(queue) as (...args: unknown[]) => void;
  (queue as unknown as { writeBuffer: (...args: unknown[]) => void }).writeBuffer = (buffer: unknown, offset: unknown, data: unknown, ...rest: unknown[]) => {
    const bytes = (rest[1] as number | undefined) ?? (data as ArrayBufferView | ArrayBuffer).byteLength;
    if ((offset as number) + bytes <= (buffer as GPUBuffer).size) writeBuffer(buffer, offset, data, ...rest);
  };
  const createCommandEncoder = device.createCommandEncoder.bind(device);
  device.createCommandEncoder = (descriptor) => {
    const encoder = createCommandEncoder(descriptor);
    const copy = encoder.copyBufferToBuffer.bind(encoder) as (...args: unknown[]) => void;
    (encoder as unknown as { copyBufferToBuffer: (...args: unknown[]) => void }).copyBufferToBuffer = (...args: unknown[]) => {
      const [source, sourceOffset, destination, destinationOffset, size] = args as [GPUBuffer, number, GPUBuffer, number, number];
      if (sourceOffset + size <= source.size && destinationOffset + size <= destination.size) copy(...args);
    };
    return encoder;
  };
}

export function describeAdapter(report: AdapterReport): string {
  const name = [report.vendor, report.architecture, report.description].filter(Boolean).join(' / ');
  return `${name}${report.software ? ' (software, CPU)' : ''} via ${report.runtime === 'node' ? 'Dawn (Node)' : 'browser WebGPU'}`;
}
