// The page's manifest check (src/manifest.js) on a small valid export held in memory and on
// the manifests the Java core refuses (ManifestParserTest): each refused with its kind and a
// message naming the entry and the rule. tests/test_web_demo.py checks the same hostile
// manifests in Chromium against the Java core's CoreTool and tflite_export.manifest.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {countLines, parseManifest, sha256Hex, verifyFiles} from '../src/manifest.js';

const MODEL = new Uint8Array([1, 2, 3, 4, 5]);
const LABELS = 'a\nb\n';

async function validExport() {
  const tensor = (shape) => ({shape, dtype: 'float32', quantization: null});
  const latency = {1: {init: 1, first: 0.1, warmup_mean: 0.1, mean: 0.1, std: 0, p50: 0.1, p90: 0.1, runs: 10}};
  const manifest = {
    schema_version: 1, model_name: 'm', mode: 'universal', width_range: [0.25, 1.0], width_list: null,
    labels: ['a', 'b'], labels_file: 'labels.txt', output_kind: 'probabilities',
    preprocessing: {height: 2, width: 2, channels: 1, scale: 255, mean: [0.5], std: [0.25], layout: 'NHWC'},
    models: [0.25, 1.0].map((w) => ({
      id: `w${w}_fp32`, width: w, stage_ratios: null, precision: 'fp32', path: `w${w}.tflite`,
      sha256: '', bytes: MODEL.length, input: tensor([1, 2, 2, 1]), output: tensor([1, 2]),
      macs: 10, params: 5, top1: 0.5, latency_ms: latency,
    })),
  };
  const digest = await sha256Hex(MODEL);
  manifest.models.forEach((m) => { m.sha256 = digest; });
  const files = {'w0.25.tflite': MODEL, 'w1.tflite': MODEL, 'labels.txt': new TextEncoder().encode(LABELS)};
  return {manifest, files};
}

async function check(manifest, files) {
  const parsed = parseManifest(JSON.stringify(manifest));
  return verifyFiles(parsed, async (path) => files[path] ?? null);
}

test('a valid export passes and hands back the checked bytes', async () => {
  const {manifest, files} = await validExport();
  const contents = await check(manifest, files);
  assert.deepEqual(Object.keys(contents), ['w0.25_fp32', 'w1_fp32']);
  assert.equal(await sha256Hex(new TextEncoder().encode('abc')),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

const HOSTILE = [
  ['a path out of the folder', (m) => { m.models[0].path = '../../../../etc/passwd'; }, /BAD_VALUE: models\[0\] \(id "w0.25_fp32"\)\.path must be a relative path/],
  ['an absolute path', (m) => { m.models[1].path = '/etc/passwd'; }, /models\[1\] \(id "w1_fp32"\)\.path must be a relative path/],
  ['a backslash', (m) => { m.models[0].path = 'a\\b.tflite'; }, /relative path/],
  ['a labels file out of the folder', (m) => { m.labels_file = '../labels.txt'; }, /manifest\.labels_file must be a relative path/],
  ['a wrong SHA-256', (m) => { m.models[1].sha256 = '0'.repeat(64); }, /SHA256_MISMATCH: model w1_fp32: w1\.tflite has sha256/],
  ['a wrong size', (m) => { m.models[0].bytes = 6; }, /bytes is 6 but w0\.25\.tflite has 5 bytes/],
  ['a labels file with the wrong line count', (m) => { m.labels.push('c'); m.models.forEach((e) => { e.output.shape = [1, 3]; }); }, /labels_file labels\.txt has 2 lines but the manifest has 3 labels/],
  ['another schema version', (m) => { m.schema_version = 2; }, /UNSUPPORTED_VERSION/],
  ['an unknown output kind', (m) => { m.output_kind = 'scores'; }, /output_kind must be probabilities or logits, got scores/],
  ['a missing file', (m) => { m.models[0].path = 'gone.tflite'; }, /MISSING_FILE: model w0\.25_fp32: file gone\.tflite not found/],
  ['a batch other than 1', (m) => { m.models[0].input.shape = [-1, 2, 2, 1]; }, /shape\[0\] must be an integer in \[1/],
  ['widths out of order', (m) => { m.models.reverse(); }, /WIDTHS_OUT_OF_ORDER/],
  ['no models', (m) => { m.models = []; }, /EMPTY_MODEL_LIST/],
];

for (const [name, spoil, message] of HOSTILE) {
  test(`refused: ${name}`, async () => {
    const {manifest, files} = await validExport();
    spoil(manifest);
    await assert.rejects(check(manifest, files), message);
  });
}

test('not JSON, or not an object', () => {
  assert.throws(() => parseManifest('{"a": 1,}'), /MALFORMED_JSON/);
  assert.throws(() => parseManifest('[1]'), /MALFORMED_JSON: the top level is not a JSON object/);
});

test('line counts as the Java core counts them', () => {
  assert.deepEqual(['', 'a', 'a\n', 'a\nb', 'a\nb\n', '\n'].map(countLines), [0, 1, 1, 2, 2, 1]);
});
