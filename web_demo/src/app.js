// The page: checks the export's manifest, compiles every uniform width of one precision,
// benchmarks them here, then runs the app's loop: one step of the width selector per frame on
// the current image, the budget from the slider. `window.demo` is the handle the browser tests
// (tests/test_web_demo.py) use. URL parameters: export (folder URL, default /export/), threads
// (1), precision (fp32, else fp16), runs (100 timed runs per width), warmup_ms (2000), loop (1).
import {WidthModel, benchmark, inputTensor, probabilities, startLiteRt, topK, unrunnableReason} from './engine.js';
import {normalize, toModelPixels} from './image.js';
import {ManifestError, parseManifest, verifyFiles} from './manifest.js';
import {SelectorConfig, WidthSelector} from './policy.js';

const params = new URLSearchParams(location.search);
const settings = {
  exportUrl: new URL(params.get('export') || '/export/', location.href),
  threads: Number(params.get('threads') || 1),
  precision: params.get('precision'),
  runs: Number(params.get('runs') || 100),
  warmupMs: Number(params.get('warmup_ms') || 2000),
  loop: params.get('loop') !== '0',
};
const $ = (id) => document.getElementById(id);
const state = {manifest: null, models: [], bench: [], selector: null, candidates: [], image: null,
  tensor: null, pixels: null, perWidth: [], lastOutput: null, unrunnable: [], timings: {}, running: false};

window.demo = {ready: start(), state: snapshot, classifyAll, setBudget, selectSample, pause, resume, preprocess};

async function start() {
  const t0 = performance.now();
  try {
    const manifestText = await fetchText(new URL('manifest.json', settings.exportUrl));
    if (manifestText === null) throw new ManifestError('MISSING_FILE', 'manifest.json not found');
    const manifest = parseManifest(manifestText);
    const contents = await verifyFiles(manifest, (path) => fetchBytes(new URL(path, settings.exportUrl)));
    state.manifest = manifest;
    $('model-name').textContent = `${manifest.modelName} (${manifest.mode})`;
    const entries = chooseEntries(manifest);
    status(`Loading LiteRT.js (${settings.threads} thread${settings.threads > 1 ? 's' : ''})…`);
    const t1 = performance.now();
    await startLiteRt(new URL('/node_modules/@litertjs/core/wasm/', location.href).href, settings.threads);
    state.timings.liteRtMs = performance.now() - t1;
    for (const entry of entries) state.models.push(await WidthModel.compile(entry, contents[entry.id], settings.threads));
    state.timings.compiledMs = performance.now() - t0;
    await loadSamples();
    status(`Benchmarking ${entries.length} widths in this page…`);
    state.bench = await benchmark(state.models, state.tensor, settings.runs, settings.warmupMs);
    startSelector();
    state.timings.startupMs = performance.now() - t0;
    await classifyAll();
    status(`${state.models.length} ${entries[0].precision} widths on LiteRT.js (WASM, ${settings.threads} thread${settings.threads > 1 ? 's' : ''}`
      + `${crossOriginIsolated ? '' : ', NOT cross-origin isolated: timer coarsened'}); ready in ${(state.timings.startupMs / 1000).toFixed(1)} s.`);
    document.body.dataset.state = 'ready';
    if (settings.loop) resume();
  } catch (e) {
    state.models.forEach((m) => m.delete());
    state.models = [];
    showError(e);
  }
}

/** The uniform entries of one runnable precision; the others are listed with the reason. */
function chooseEntries(manifest) {
  const uniform = manifest.models.filter((m) => m.uniform);
  state.unrunnable = uniform.filter(unrunnableReason).map((m) => ({id: m.id, reason: unrunnableReason(m)}));
  const runnable = [...new Set(uniform.filter((m) => !unrunnableReason(m)).map((m) => m.precision))];
  const precision = settings.precision || ['fp32', 'fp16'].find((p) => runnable.includes(p)) || runnable[0];
  if (!runnable.includes(precision)) {
    throw new Error(`precision ${precision}: no runnable uniform models of it (runnable: ${runnable.join(', ') || 'none'}`
      + `${state.unrunnable.length ? `; ${state.unrunnable[0].reason}` : ''})`);
  }
  offerChoices(runnable, precision);
  if (state.unrunnable.length) {
    $('unrunnable').textContent = `Not runnable here: ${state.unrunnable.map((u) => u.id).join(', ')} — ${state.unrunnable[0].reason}.`;
  }
  return uniform.filter((m) => m.precision === precision);
}

/** The precision and thread menus: a choice reloads the page with it (LiteRT.js loads once). */
function offerChoices(precisions, precision) {
  const menu = $('precision');
  for (const p of precisions) menu.add(new Option(p, p, false, p === precision));
  $('threads').value = String(settings.threads);
  const reload = (key, value) => {
    params.set(key, value);
    location.search = params.toString();
  };
  menu.onchange = () => reload('precision', menu.value);
  $('threads').onchange = () => reload('threads', $('threads').value);
}

function startSelector() {
  state.candidates = state.models.map((m) => ({width: m.entry.width, top1: m.entry.top1, id: m.entry.id}));
  const widest = Math.max(...state.bench.map((b) => b.p90));
  state.selector = new WidthSelector(state.candidates, widest * 1.1, new SelectorConfig());
  state.bench.forEach((b, i) => b.samples.forEach((ms) => state.selector.onBenchmark(state.candidates[i], ms)));
  state.selector.pick();
  const slider = $('budget');
  slider.oninput = () => setBudget(sliderMs());
  sliderRange(widest);
  slider.value = String(Math.round(1000 * (widest * 1.1 - state.sliderMin) / (state.sliderMax - state.sliderMin)));
  $('budget-ms').textContent = (widest * 1.1).toFixed(3);
}

function sliderRange(widest) {
  state.sliderMin = Math.min(...state.bench.map((b) => b.p90)) * 0.5;
  state.sliderMax = widest * 1.5;
}

function sliderMs() {
  return state.sliderMin + (state.sliderMax - state.sliderMin) * Number($('budget').value) / 1000;
}

/** Sets the budget (ms) and re-picks; returns the picked width. */
function setBudget(ms) {
  const picked = state.selector.setBudget(ms);
  showAnswerOf(picked);
  $('budget-ms').textContent = ms.toFixed(3);
  render();
  return picked.width;
}

/**
 * The app's loop on the current image, as a stream processed as fast as it allows: per 16 ms
 * frame, selector steps back to back for 8 ms, then the page is redrawn and the CPU rests.
 * (One step per frame would time every run after 16 ms idle: measured 3-4x slower than
 * back-to-back runs at width 0.25, caches and WASM code gone cold, on these machines.)
 */
async function loop() {
  while (state.running) {
    const end = performance.now() + 8;
    do {
      await state.selector.stepAsync(async (candidate) => {
        const model = state.models[state.candidates.indexOf(candidate)];
        const {ms, output} = await model.run(state.tensor);
        if (candidate === state.selector.current()) state.lastOutput = {width: candidate.width, output};
        return ms;
      });
    } while (state.running && performance.now() < end);
    render();
    await new Promise((resolve) => setTimeout(resolve, 8));
  }
}

function resume() {
  if (state.running || !state.selector) return;
  state.running = true;
  loop();
}

function pause() {
  state.running = false;
}

/** Every width on the current image: {input, widths: [{id, width, probabilities, ms}]}. */
async function classifyAll() {
  state.perWidth = [];
  for (const model of state.models) {
    const {ms, output} = await model.run(state.tensor);
    state.perWidth.push({id: model.entry.id, width: model.entry.width, ms,
      probabilities: Array.from(probabilities(output, state.manifest.outputKind))});
  }
  if (state.selector) showAnswerOf(state.selector.current());
  render();
  return {input: Array.from(state.pixels), widths: state.perWidth};
}

/** Model input of an image given as RGBA bytes, `width` pixels a row (the Java core's arithmetic). */
function preprocess(rgba, width) {
  const image = {width, height: rgba.length / 4 / width, rgba: Uint8ClampedArray.from(rgba)};
  return Array.from(normalize(toModelPixels(image, state.manifest.preprocessing), state.manifest.preprocessing));
}

/** Shows the answer of `candidate` on the current image (from the all-widths pass). */
function showAnswerOf(candidate) {
  const answer = state.perWidth.find((w) => w.width === candidate.width);
  if (answer) state.lastOutput = {width: answer.width, output: Float32Array.from(answer.probabilities)};
}

async function loadSamples() {
  const list = JSON.parse(await fetchText(new URL('/samples/index.json', location.href)) || '[]');
  const box = $('samples');
  list.forEach((sample, i) => {
    const button = document.createElement('button');
    button.textContent = sample.label;
    button.title = sample.name;
    button.onclick = () => selectSample(i);
    box.appendChild(button);
  });
  state.samples = list;
  $('file').onchange = () => $('file').files[0] && useBlob($('file').files[0]);
  $('drop').ondragover = (e) => e.preventDefault();
  $('drop').ondrop = (e) => {
    e.preventDefault();
    if (e.dataTransfer.files[0]) useBlob(e.dataTransfer.files[0]);
  };
  $('invert').onchange = () => state.image && useImage(state.image);
  if (list.length) {
    await selectSample(0);
  } else {
    const p = state.manifest.preprocessing;  // no samples: a mid-grey image until one is dropped
    await useImage({width: p.width, height: p.height, rgba: new Uint8ClampedArray(p.width * p.height * 4).fill(128)});
  }
}

/** Makes sample `i` the current image (classified at every width when the page is ready). */
async function selectSample(i) {
  const response = await fetch(state.samples[i].url);
  await useBlob(await response.blob());
  return state.samples[i];
}

async function useBlob(blob) {
  const bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(bitmap, 0, 0);
  const data = context.getImageData(0, 0, bitmap.width, bitmap.height);
  await useImage({width: data.width, height: data.height, rgba: data.data});
}

async function useImage(image) {
  state.image = image;
  const p = state.manifest.preprocessing;
  const modelPixels = toModelPixels(image, p, $('invert').checked);
  state.pixels = normalize(modelPixels, p);
  if (state.tensor) state.tensor.delete();
  state.tensor = inputTensor(state.pixels, p);
  const canvas = $('image');
  canvas.width = modelPixels.width;
  canvas.height = modelPixels.height;
  canvas.getContext('2d').putImageData(new ImageData(Uint8ClampedArray.from(modelPixels.rgba), modelPixels.width), 0, 0);
  if (state.selector) await classifyAll();
}

function render() {
  if (!state.selector) return;
  const labels = state.manifest.labels;
  const current = state.selector.current();
  const model = state.models[state.candidates.indexOf(current)];
  const tracker = state.selector.tracker(current);
  $('current').textContent = `width ${current.width.toFixed(2)} · ${(model.entry.macs / 1e6).toFixed(2)} M MACs · `
    + `p90 ${tracker.p90().toFixed(3)} ms (budget ${state.selector.budgetMs.toFixed(3)} ms)`;
  if (state.lastOutput) {
    const scores = probabilities(state.lastOutput.output, state.manifest.outputKind);
    $('top3').innerHTML = '';
    for (const {index, score} of topK(scores, 3)) {
      const li = document.createElement('li');
      li.textContent = `${labels[index]} — ${(100 * score).toFixed(1)} %`;
      li.dataset.label = labels[index];
      $('top3').appendChild(li);
    }
  }
  const body = $('widths').tBodies[0];
  body.innerHTML = '';
  state.models.forEach((m, i) => {
    const row = body.insertRow();
    const result = state.perWidth[i];
    const best = result ? topK(result.probabilities, 1)[0] : null;
    const exporter = m.entry.latency[1] ? m.entry.latency[1].p90.toFixed(3) : '–';
    const cells = [m.entry.id, (m.entry.macs / 1e6).toFixed(2) + ' M', (m.entry.bytes / 1024).toFixed(1),
      best ? labels[best.index] : '–', best ? `${(100 * best.score).toFixed(1)} %` : '–',
      result ? result.ms.toFixed(3) : '–', state.bench[i].p50.toFixed(3), state.bench[i].p90.toFixed(3),
      state.selector.tracker(state.candidates[i]).p90().toFixed(3), exporter, m.initMs.toFixed(1)];
    cells.forEach((text) => { row.insertCell().textContent = text; });
    if (state.candidates[i] === current) row.className = 'current';
  });
  drawChart();
}

/** Each width's window p90 (bar) and page p50 (tick) against the budget (red line). */
function drawChart() {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  const {width: w, height: h} = canvas;
  const pad = 30;
  const p90s = state.candidates.map((c) => state.selector.tracker(c).p90());
  const top = Math.max(state.selector.budgetMs, ...p90s, ...state.bench.map((b) => b.p90)) * 1.15;
  const y = (ms) => h - pad - (h - 2 * pad) * ms / top;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  ctx.font = '11px system-ui';
  const slot = (w - pad) / state.candidates.length;
  state.candidates.forEach((c, i) => {
    const x = pad + i * slot + slot * 0.2;
    ctx.fillStyle = c === state.selector.current() ? '#1565c0' : '#90a4ae';
    ctx.fillRect(x, y(p90s[i]), slot * 0.6, h - pad - y(p90s[i]));
    ctx.fillStyle = '#000';
    ctx.fillRect(x, y(state.bench[i].p50), slot * 0.6, 2);
    ctx.fillText(c.width.toFixed(2), x, h - pad + 14);
    ctx.fillText(p90s[i].toFixed(3), x, y(p90s[i]) - 3);
  });
  ctx.strokeStyle = '#c62828';
  ctx.beginPath();
  ctx.moveTo(pad, y(state.selector.budgetMs));
  ctx.lineTo(w, y(state.selector.budgetMs));
  ctx.stroke();
  ctx.fillStyle = '#c62828';
  ctx.fillText(`budget ${state.selector.budgetMs.toFixed(3)} ms`, pad + 2, y(state.selector.budgetMs) - 3);
  ctx.fillStyle = '#555';
  ctx.fillText('p90 ms per width (bar: live window, tick: start-up p50)', pad, 12);
}

/** What the tests read: the check's outcome, the measurements and the current pick. */
function snapshot() {
  return {
    state: document.body.dataset.state || 'starting',
    error: state.error || null,
    threads: settings.threads,
    crossOriginIsolated,
    timings: state.timings,
    unrunnable: state.unrunnable,
    loaded: state.models.map((m) => m.entry.id),
    models: state.models.map((m, i) => ({
      id: m.entry.id, width: m.entry.width, initMs: m.initMs,
      bench: {...state.bench[i], samples: undefined},
      window: state.selector ? [...state.selector.tracker(state.candidates[i]).window] : [],
    })),
    current: state.selector && state.selector.current() ? state.selector.current().width : null,
    budgetMs: state.selector ? state.selector.budgetMs : null,
  };
}

function status(text) {
  $('status').textContent = text;
}

function showError(e) {
  state.error = e instanceof ManifestError ? `This export cannot be used: ${e.message}` : `Error: ${e.message}`;
  $('error').textContent = state.error;
  $('error').style.display = 'block';
  status('Stopped: no model loaded.');
  document.body.dataset.state = 'error';
}

async function fetchBytes(url) {
  const response = await fetch(url);
  return response.ok ? new Uint8Array(await response.arrayBuffer()) : null;
}

async function fetchText(url) {
  const response = await fetch(url);
  return response.ok ? response.text() : null;
}
