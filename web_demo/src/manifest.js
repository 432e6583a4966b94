// manifest.json (docs/manifest_schema.md) read and checked as the app checks it: the rules and
// messages of android_demo/core's ManifestParser / ManifestFields (and of
// tflite_export.manifest.validate_manifest): relative paths inside the export folder, SHA-256
// (crypto.subtle) and size of every file, labels_file and its line count, output_kind, schema
// version. One difference: JSON.parse keeps the last of duplicate keys, the Java parser refuses
// them. Plain ES module: runs in the browser and in Node.

export const SCHEMA_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_EXACT_INTEGER = 2 ** 53;
const MODES = ['universal', 'slimmable', 'naive', 'individual'];
const PRECISIONS = ['fp32', 'fp16', 'int8'];
const DTYPES = ['float32', 'int8', 'uint8'];

/** A manifest the page cannot use; `kind` is the Java ManifestException.Kind, `message` names the entry and rule. */
export class ManifestError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.kind = kind;
  }
}

/** The fields of one JSON object, named `where` in messages (ManifestFields). */
class Fields {
  constructor(map, where) {
    this.map = map;
    this.where = where;
  }

  named(id) { return new Fields(this.map, `${this.where} (id "${id}")`); }

  child(value, key) {
    if (!isObject(value)) throw this.bad(key, `must be an object, got ${show(value)}`);
    return new Fields(value, `${this.where}.${key}`);
  }

  element(list, key, index) {
    const value = list[index];
    if (!isObject(value)) throw this.bad(`${key}[${index}]`, `must be an object, got ${show(value)}`);
    return new Fields(value, `${key}[${index}]`);
  }

  has(key) { return Object.prototype.hasOwnProperty.call(this.map, key); }

  required(key) {
    if (!this.has(key)) throw new ManifestError('MISSING_FIELD', `${this.where}: field "${key}" is missing`);
    return this.map[key];
  }

  bad(key, problem) { return new ManifestError('BAD_VALUE', `${this.where}.${key} ${problem}`); }

  string(key) {
    const value = this.required(key);
    if (typeof value !== 'string' || value === '') throw this.bad(key, `must be a non-empty string, got ${show(value)}`);
    return value;
  }

  object(key) { return this.child(this.required(key), key); }

  nullableObject(key) {
    const value = this.required(key);
    return value === null ? null : this.child(value, key);
  }

  list(key) {
    const list = this.nullableList(key);
    if (list === null) throw this.bad(key, 'must be a list, got null');
    return list;
  }

  nullableList(key) {
    const value = this.required(key);
    if (value !== null && !Array.isArray(value)) throw this.bad(key, `must be a list, got ${show(value)}`);
    return value;
  }

  number(value, key) {
    if (typeof value !== 'number') throw this.bad(key, `must be a number, got ${show(value)}`);
    return value;
  }

  positiveNumber(value, key) {
    const number = this.number(value, key);
    if (!(number > 0)) throw this.bad(key, `must be > 0, got ${number}`);
    return number;
  }

  nonNegativeNumber(key) {
    const number = this.number(this.required(key), key);
    if (number < 0) throw this.bad(key, `must be >= 0, got ${number}`);
    return number;
  }

  nullableNumber(key) {
    const value = this.required(key);
    return value === null ? NaN : this.number(value, key);
  }

  numbers(key, length) {
    const list = this.list(key);
    if (list.length !== length) throw this.bad(key, `must have ${length} values, got ${list.length}`);
    return list.map((value, i) => this.number(value, `${key}[${i}]`));
  }

  integer(value, key, min, max) {
    const number = this.number(value, key);
    if (!Number.isInteger(number) || Math.abs(number) > MAX_EXACT_INTEGER || number < min || number > max) {
      throw this.bad(key, `must be an integer in [${min}, ${max}], got ${show(value)}`);
    }
    return number;
  }

  positiveInt(key) { return this.integer(this.required(key), key, 1, 2 ** 31 - 1); }
  nonNegativeInteger(key) { return this.integer(this.required(key), key, 0, MAX_EXACT_INTEGER); }

  /** A path relative to the export folder: no leading '/', no '\', no '..' segment. */
  relativePath(key) {
    const path = this.string(key);
    if (path.startsWith('/') || path.includes('\\') || `/${path}/`.includes('/../')) {
      throw this.bad(key, `must be a relative path inside the export folder, got ${path}`);
    }
    return path;
  }
}

/** The manifest in `text`, its fields checked (files are checked by `verifyFiles`). */
export function parseManifest(text) {
  let root;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw new ManifestError('MALFORMED_JSON', e.message);
  }
  if (!isObject(root)) throw new ManifestError('MALFORMED_JSON', 'the top level is not a JSON object');
  const top = new Fields(root, 'manifest');
  const version = top.required('schema_version');
  if (version !== SCHEMA_VERSION) {
    throw new ManifestError('UNSUPPORTED_VERSION', `schema_version ${show(version)} is not supported (this page reads ${SCHEMA_VERSION})`);
  }
  top.string('model_name');
  const mode = top.string('mode');
  if (!MODES.includes(mode)) throw top.bad('mode', `must be universal, slimmable, naive or individual, got ${mode}`);
  readWidths(top, mode);
  const labels = top.list('labels');
  if (!labels.length) throw top.bad('labels', 'is empty');
  labels.forEach((label, i) => {
    if (typeof label !== 'string') throw top.bad(`labels[${i}]`, `must be a string, got ${show(label)}`);
  });
  const labelsFile = top.has('labels_file') ? top.relativePath('labels_file') : null;
  const outputKind = top.has('output_kind') ? root.output_kind : 'logits';
  if (!['probabilities', 'logits'].includes(outputKind)) {
    throw top.bad('output_kind', `must be probabilities or logits, got ${show(outputKind)}`);
  }
  const preprocessing = readPreprocessing(top.object('preprocessing'));
  const rawModels = top.list('models');
  if (!rawModels.length) throw new ManifestError('EMPTY_MODEL_LIST', 'manifest.models is empty');
  const ids = new Set();
  const models = rawModels.map((_, i) => {
    const model = readModel(top.element(rawModels, 'models', i), labels.length, preprocessing);
    if (ids.has(model.id)) throw new ManifestError('BAD_VALUE', `models[${i}]: duplicate id "${model.id}"`);
    ids.add(model.id);
    return model;
  });
  checkWidthOrder(models);
  return {modelName: root.model_name, mode, labels, labelsFile, outputKind, preprocessing, models};
}

function readWidths(top, mode) {
  const range = top.nullableList('width_range');
  const list = top.nullableList('width_list');
  if (mode === 'universal') {
    if (range === null || range.length !== 2) throw top.bad('width_range', 'must be [min, max] for mode universal');
    const min = top.positiveNumber(range[0], 'width_range[0]');
    const max = top.positiveNumber(range[1], 'width_range[1]');
    if (min > max) throw top.bad('width_range', `min ${min} exceeds max ${max}`);
    if (list !== null) throw top.bad('width_list', 'must be null for mode universal');
  } else {
    if (range !== null) throw top.bad('width_range', `must be null for mode ${mode}`);
    if (list === null || !list.length) throw top.bad('width_list', `must list the switch widths for mode ${mode}`);
    list.forEach((w, i) => top.positiveNumber(w, `width_list[${i}]`));
  }
}

function readPreprocessing(p) {
  const height = p.positiveInt('height');
  const width = p.positiveInt('width');
  const channels = p.positiveInt('channels');
  if (channels !== 1 && channels !== 3) throw p.bad('channels', `must be 1 or 3, got ${channels}`);
  const scale = p.positiveNumber(p.required('scale'), 'scale');
  const mean = p.numbers('mean', channels);
  const std = p.numbers('std', channels);
  std.forEach((s, c) => {
    if (!(s > 0)) throw p.bad(`std[${c}]`, `must be > 0, got ${s}`);
  });
  const layout = p.string('layout');
  if (layout !== 'NHWC') throw p.bad('layout', `must be NHWC, got ${layout}`);
  const resize = p.has('resize') ? p.integer(p.map.resize, 'resize', Math.max(height, width), 2 ** 31 - 1) : 0;
  let crop = 0;
  if (p.has('crop')) {
    if (resize === 0) throw p.bad('crop', 'needs resize (the crop is taken from the resized frame)');
    crop = p.integer(p.map.crop, 'crop', 1, resize);
  }
  return {height, width, channels, scale, mean, std, resize, crop};
}

function readModel(fields, labelCount, preprocessing) {
  const id = fields.string('id');
  const m = fields.named(id);
  const width = m.positiveNumber(m.required('width'), 'width');
  const ratios = m.nullableObject('stage_ratios');
  if (ratios !== null) Object.entries(ratios.map).forEach(([stage, r]) => ratios.positiveNumber(r, stage));
  const precision = m.string('precision');
  if (!PRECISIONS.includes(precision)) throw m.bad('precision', `must be fp32, fp16 or int8, got ${precision}`);
  const path = m.relativePath('path');
  const sha256 = m.string('sha256');
  if (!SHA256_HEX.test(sha256)) throw m.bad('sha256', `must be 64 lower-case hex digits, got ${sha256}`);
  const bytes = m.nonNegativeInteger('bytes');
  const input = readTensor(m.object('input'));
  const output = readTensor(m.object('output'));
  const expected = [1, preprocessing.height, preprocessing.width, preprocessing.channels];
  if (input.shape.join(',') !== expected.join(',')) {
    throw m.bad('input.shape', `must be [${expected.join(', ')}] (from preprocessing), got [${input.shape.join(', ')}]`);
  }
  const classes = output.shape[output.shape.length - 1];
  if (classes !== labelCount) throw m.bad('output.shape', `last dimension ${classes} differs from the ${labelCount} labels`);
  const macs = m.nonNegativeInteger('macs');
  const params = m.nonNegativeInteger('params');
  const top1 = m.nullableNumber('top1');
  if (!Number.isNaN(top1) && (top1 < 0 || top1 > 1)) throw m.bad('top1', `must be in [0, 1], got ${top1}`);
  const latency = readLatency(m.object('latency_ms'));
  return {id, width, uniform: ratios === null, precision, path, sha256, bytes, input, output, macs, params, top1, latency};
}

function readTensor(t) {
  const rawShape = t.list('shape');
  if (!rawShape.length) throw t.bad('shape', 'is empty');
  const shape = rawShape.map((d, i) => t.integer(d, `shape[${i}]`, 1, 2 ** 31 - 1));
  const dtype = t.string('dtype');
  if (!DTYPES.includes(dtype)) throw t.bad('dtype', `must be float32, int8 or uint8, got ${dtype}`);
  const q = t.nullableObject('quantization');
  if (dtype !== 'float32' && q === null) throw t.bad('quantization', `is required for dtype ${dtype}`);
  const quantization = q === null ? null : {
    scale: q.positiveNumber(q.required('scale'), 'scale'),
    zeroPoint: q.integer(q.required('zero_point'), 'zero_point', -128, 255),
  };
  return {shape, dtype, quantization};
}

function readLatency(latency) {
  const result = {};
  for (const [threads, value] of Object.entries(latency.map)) {
    const count = /^[0-9]+$/.test(threads) ? Number(threads) : 0;
    if (count < 1) throw latency.bad(threads, 'keys must be thread counts >= 1');
    const s = latency.child(value, threads);
    result[count] = {};
    for (const key of ['init', 'first', 'warmup_mean', 'mean', 'std', 'p50', 'p90']) result[count][key] = s.nonNegativeNumber(key);
    result[count].runs = s.integer(s.required('runs'), 'runs', 1, 2 ** 31 - 1);
  }
  return result;
}

function checkWidthOrder(models) {
  const previous = new Map();
  for (const model of models) {
    if (!model.uniform) continue;
    const before = previous.get(model.precision);
    previous.set(model.precision, model);
    if (before && !(before.width < model.width)) {
      throw new ManifestError('WIDTHS_OUT_OF_ORDER', `uniform ${model.precision} models must have strictly `
        + `increasing width: ${model.id} (${model.width}) follows ${before.id} (${before.width})`);
    }
  }
}

/**
 * Checks the files of a parsed manifest: each model's size and SHA-256, then the labels file's
 * line count. `fetchBytes(path)` returns a file's Uint8Array, or null if it does not exist.
 * Returns {id: bytes} of the models, so that what is loaded is what was checked.
 */
export async function verifyFiles(manifest, fetchBytes) {
  const contents = {};
  for (const model of manifest.models) {
    const bytes = await fetchBytes(model.path);
    if (bytes === null) throw new ManifestError('MISSING_FILE', `model ${model.id}: file ${model.path} not found`);
    const actual = await sha256Hex(bytes);
    if (actual !== model.sha256) {
      throw new ManifestError('SHA256_MISMATCH', `model ${model.id}: ${model.path} has sha256 ${actual}, manifest says ${model.sha256}`);
    }
    if (bytes.length !== model.bytes) {
      throw new ManifestError('BAD_VALUE', `model ${model.id}: bytes is ${model.bytes} but ${model.path} has ${bytes.length} bytes`);
    }
    contents[model.id] = bytes;
  }
  if (manifest.labelsFile !== null) {
    const bytes = await fetchBytes(manifest.labelsFile);
    if (bytes === null) throw new ManifestError('MISSING_FILE', `labels_file ${manifest.labelsFile} not found`);
    const lines = countLines(new TextDecoder().decode(bytes));
    if (lines !== manifest.labels.length) {
      throw new ManifestError('BAD_VALUE', `labels_file ${manifest.labelsFile} has ${lines} lines but the manifest has ${manifest.labels.length} labels`);
    }
  }
  return contents;
}

/** Lines of a text file: '\n' count, plus one for a last line without a line break. */
export function countLines(text) {
  if (!text) return 0;
  const breaks = text.split('\n').length - 1;
  return text.endsWith('\n') ? breaks : breaks + 1;
}

/** Lower-case hex SHA-256 of `bytes` (Web Crypto: the browser's and Node's). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function show(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
