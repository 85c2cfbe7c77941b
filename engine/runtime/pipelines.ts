// Compute pipelines: one shader module per WGSL family (compiled on first use, its compilation errors reported),
// one pipeline per kernel variant (family, entry point, override constants, binding counts), found by a numeric
// hash of the override values so that no string is built per dispatch; bind-group layouts shared by every kernel
// with the same binding counts.

import { shaderSources, type ShaderFamily } from '../../shaders/index.ts';

export type Overrides = Record<string, number | boolean>;

/** A kernel generated at run time from a family's source (engine/ops/fused.ts), named by what it computes. */
export type GeneratedFamily = `generated:${string}`;

export interface KernelSpec {
  family: ShaderFamily | GeneratedFamily;
  /** The WGSL of a generated family (compiled once per family name). */
  source?: string;
  entry: string;
  overrides?: Overrides;
}

export interface PipelineVariant {
  outputs: number;
  inputs: number;
  /** Number of override constants, and their values (booleans as 0/1). */
  count: number;
  constants: Record<string, number>;
  pipeline: GPUComputePipeline;
  group: GPUBindGroupLayout;
}

/** What the cache reports to the runtime: validation scopes to watch, a failed compilation, pipelines created. */
export interface PipelineErrors {
  check(scope: Promise<GPUError | null>, what: string): void;
  watch(done: Promise<void>): void;
  fail(message: string): void;
  /** Called for each pipeline created (a statistic). */
  created(): void;
}

function constantsOf(spec: KernelSpec): Record<string, number> {
  const constants: Record<string, number> = {};
  for (const [name, value] of Object.entries(spec.overrides ?? {})) constants[name] = Number(value);
  return constants;
}

const labelOf = (spec: KernelSpec, outputs: number, inputs: number, constants: Record<string, number>) => `${spec.family}:${spec.entry}:${outputs}/${inputs}:${JSON.stringify(constants)}`;

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly variants = new Map<string, Map<string, Map<number, PipelineVariant[]>>>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  /** Where the last lookup that found nothing would put the variant, and its override count (no allocation per dispatch). */
  private missedBucket: PipelineVariant[] = [];
  private missedCount = 0;

  constructor(private readonly device: GPUDevice, private readonly errors: PipelineErrors) {}

  /** The cached pipeline of a kernel variant: looked up by a hash of the override values, then checked exactly. */
  variant(spec: KernelSpec, outputs: number, inputs: number): PipelineVariant {
    const found = this.lookup(spec, outputs, inputs);
    if (found) return found;
    const bucket = this.missedBucket;
    const created = this.create(spec, outputs, inputs, this.missedCount);
    bucket.push(created);
    return created;
  }

  /**
   * Compiles a kernel variant off the main thread (createComputePipelineAsync) and caches it, so that its first
   * dispatch finds it ready. For kernels whose compilation on a CPU driver takes long; a dispatch that comes first
   * compiles it at once as usual, and the background one is then dropped.
   */
  async prepare(spec: KernelSpec, outputs: number, inputs: number): Promise<void> {
    if (this.lookup(spec, outputs, inputs)) return;
    const module = this.module(spec.family, spec.source);
    const constants = constantsOf(spec);
    const layout = this.layout(outputs, inputs);
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await this.device.createComputePipelineAsync({ label: labelOf(spec, outputs, inputs, constants), layout: layout.pipeline, compute: { module, entryPoint: spec.entry, constants } });
    } catch {
      return; // (a lost device, an invalid kernel) left to the first dispatch, which compiles it and names the error
    }
    if (this.lookup(spec, outputs, inputs)) return;
    this.errors.created();
    this.missedBucket.push({ outputs, inputs, count: this.missedCount, constants, pipeline, group: layout.group });
  }

  private lookup(spec: KernelSpec, outputs: number, inputs: number): PipelineVariant | null {
    let byEntry = this.variants.get(spec.family);
    if (!byEntry) this.variants.set(spec.family, (byEntry = new Map()));
    let byHash = byEntry.get(spec.entry);
    if (!byHash) byEntry.set(spec.entry, (byHash = new Map()));
    const overrides = spec.overrides;
    let hash = outputs * 31 + inputs;
    let count = 0;
    if (overrides) {
      for (const name in overrides) {
        hash = (Math.imul(hash, 0x01000193) + +overrides[name] + 1) | 0;
        count++;
      }
    }
    let bucket = byHash.get(hash);
    if (bucket) {
      for (const v of bucket) {
        if (v.outputs !== outputs || v.inputs !== inputs || v.count !== count) continue;
        let same = true;
        if (overrides) for (const name in overrides) if (v.constants[name] !== +overrides[name]) { same = false; break; }
        if (same) return v;
      }
    } else byHash.set(hash, (bucket = []));
    this.missedBucket = bucket;
    this.missedCount = count;
    return null;
  }

  private module(family: ShaderFamily | GeneratedFamily, source?: string): GPUShaderModule {
    let module = this.modules.get(family);
    if (!module) {
      const code = family.startsWith('generated:') ? source : shaderSources[family as ShaderFamily];
      if (code === undefined) throw new Error(`internal: the generated kernel ${family} came without its source`);
      this.device.pushErrorScope('validation');
      module = this.device.createShaderModule({ code, label: family });
      const where = family.startsWith('generated:') ? `the kernel ${family} (generated from shaders/elementwise.wgsl)` : `shaders/${family}.wgsl`;
      this.errors.check(this.device.popErrorScope(), `compiling ${where}`);
      this.modules.set(family, module);
      this.errors.watch(module.getCompilationInfo().then((info) => {
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length) this.errors.fail(`WGSL compilation of ${where} failed: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
      }));
    }
    return module;
  }

  private create(spec: KernelSpec, outputs: number, inputs: number, count: number): PipelineVariant {
    const module = this.module(spec.family, spec.source);
    const constants = constantsOf(spec);
    const label = labelOf(spec, outputs, inputs, constants);
    const layout = this.layout(outputs, inputs);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({ label, layout: layout.pipeline, compute: { module, entryPoint: spec.entry, constants } });
    this.errors.check(this.device.popErrorScope(), `creating pipeline ${label}`);
    this.errors.created();
    return { outputs, inputs, count, constants, pipeline, group: layout.group };
  }

  /** Binding 0: the uniform window (a dynamic offset); then the outputs (read-write), then the inputs (read-only). */
  private layout(outputs: number, inputs: number) {
    const key = `${outputs}/${inputs}`;
    let entry = this.layouts.get(key);
    if (!entry) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform', hasDynamicOffset: true } },
      ];
      for (let i = 0; i < outputs + inputs; i++) {
        entries.push({ binding: 1 + i, visibility: 4, buffer: { type: i < outputs ? 'storage' : 'read-only-storage' } });
      }
      const group = this.device.createBindGroupLayout({ entries });
      entry = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, entry);
    }
    return entry;
  }
}
