// The export's models in LiteRT.js (WebAssembly, XNNPACK): compile, run, time, benchmark.
// Per-call cost is kept low as on the phone: one input Tensor per image, reused for every
// width and run; only `run` is timed (the interpreter's invoke, as tflite_export.bench times
// it); output tensors are read once and freed.
import {Tensor, loadAndCompile, loadLiteRt} from '@litertjs/core';

import {nearestRank} from './policy.js';

/** Why a file cannot run in LiteRT.js 2.5.3, or null: its JS side has no int8 (or uint8) tensors. */
export function unrunnableReason(entry) {
  const dtype = [entry.input.dtype, entry.output.dtype].find((d) => d !== 'float32');
  if (dtype) {
    return `${dtype} input/output: LiteRT.js 2.5.3 has no ${dtype} tensors ("Element type `
      + `${dtype.toUpperCase()} is not supported."); export fp32 or fp16 for the browser`;
  }
  return null;
}

/** Loads LiteRT's WebAssembly from `wasmUrl`; `threads` > 1 loads the threaded build. */
export async function startLiteRt(wasmUrl, threads) {
  await loadLiteRt(wasmUrl, threads > 1 ? {threads: true} : {});
}

/** One compiled width of the export. */
export class WidthModel {
  constructor(entry, compiled, threads, initMs) {
    this.entry = entry;
    this.compiled = compiled;
    this.threads = threads;
    this.initMs = initMs;
  }

  /** Compiles the checked file `bytes` of manifest entry `entry` for the CPU (WASM). */
  static async compile(entry, bytes, threads) {
    const start = performance.now();
    const compiled = await loadAndCompile(bytes, {accelerator: 'wasm', cpuOptions: {numThreads: threads}});
    return new WidthModel(entry, compiled, threads, performance.now() - start);
  }

  /** Runs once on `input` (a Tensor); {ms, output: Float32Array}. */
  async run(input) {
    const start = performance.now();
    const outputs = await this.compiled.run(input);
    const ms = performance.now() - start;
    try {
      return {ms, output: outputs[0].toTypedArray()};
    } finally {
      outputs.forEach((t) => t.delete());
    }
  }

  /** Runs once on `input`; the latency in ms (the output is not read). */
  async time(input) {
    const start = performance.now();
    const outputs = await this.compiled.run(input);
    const ms = performance.now() - start;
    outputs.forEach((t) => t.delete());
    return ms;
  }

  delete() {
    this.compiled.delete();
  }
}

/** A model-input Tensor [1, H, W, C] of normalized pixels (delete it when done). */
export function inputTensor(pixels, preprocessing) {
  return new Tensor(pixels, [1, preprocessing.height, preprocessing.width, preprocessing.channels]);
}

/**
 * Benchmarks `models` like tflite_export.bench: first `warmupMs` of untimed runs, round robin
 * (V8 tiers the WASM code up: models measured first would look slower), then per model its
 * first run and `runs` timed runs. Returns per model {first, mean, std, p50, p90, runs, samples}.
 */
export async function benchmark(models, input, runs, warmupMs) {
  const end = performance.now() + warmupMs;
  while (performance.now() < end) {
    for (const model of models) await model.time(input);
  }
  const results = [];
  for (const model of models) {
    const first = await model.time(input);
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(await model.time(input));
    results.push({first, ...summary(samples), samples});
  }
  return results;
}

/** mean, std, p50, p90 (nearest rank, numpy's inverted_cdf as tflite_export.bench) and runs of `samples`. */
export function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const std = Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / samples.length);
  return {mean, std, p50: nearestRank(sorted, 50), p90: nearestRank(sorted, 90), runs: samples.length};
}

/** Scores shown to people: probabilities as they are, logits through a softmax (output_kind). */
export function probabilities(output, outputKind) {
  if (outputKind === 'probabilities') return Float32Array.from(output);
  const max = Math.max(...output);
  const exps = Array.from(output, (v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return Float32Array.from(exps, (e) => e / total);
}

/** The `k` best classes [{index, score}], highest first (the lower index on a tie). */
export function topK(scores, k) {
  return Array.from(scores, (score, index) => ({index, score}))
    .sort((a, b) => b.score - a.score || a.index - b.index).slice(0, k);
}
