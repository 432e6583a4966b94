// The width-switching policy of the phone app, for the page: a line-for-line port of
// tflite_export/switch/latency_tracker.py, tflite_export/switch/policy.py and the replay of
// tflite_export/switch/trace_runner.py (Java twins: org.slimkeras.core.LatencyTracker, WidthSelector,
// TraceRunner). The three must give the same picks on android_demo/traces/*.json
// (web_demo/test/policy.test.js). Plain ES module: runs in the browser and in Node.

export const WIDEST = 'widest';
export const MAX_ACCURACY = 'max_accuracy';
const MODES = [WIDEST, MAX_ACCURACY];

/** Whether `value` is a finite number (not a boolean). */
export function isFiniteNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Nearest-rank percentile of ascending `sorted`: sorted[ceil(percent / 100 * n) - 1], in integers. */
export function nearestRank(sorted, percent) {
  const rank = Math.floor((percent * sorted.length + 99) / 100);
  return sorted[rank - 1];
}

/** Rolling latency statistics of one model (first `warmupRuns` samples discarded, then a window). */
export class LatencyTracker {
  constructor(windowSize = 20, warmupRuns = 3, emaAlpha = 0.2) {
    if (!Number.isInteger(windowSize) || windowSize < 1) {
      throw new RangeError(`window_size must be an int >= 1, got ${windowSize}`);
    }
    if (!Number.isInteger(warmupRuns) || warmupRuns < 0) {
      throw new RangeError(`warmup_runs must be an int >= 0, got ${warmupRuns}`);
    }
    if (!isFiniteNumber(emaAlpha) || !(emaAlpha > 0 && emaAlpha <= 1)) {
      throw new RangeError(`ema_alpha must be in (0, 1], got ${emaAlpha}`);
    }
    this.windowSize = windowSize;
    this.warmupRuns = warmupRuns;
    this.emaAlpha = emaAlpha;
    this.window = [];
    this.warmupSeenCount = 0;
    this.emaValue = NaN;
  }

  /** Records one latency sample in milliseconds (finite, >= 0). */
  add(ms) {
    if (!isFiniteNumber(ms) || ms < 0) {
      throw new RangeError(`latency must be a finite number >= 0 ms, got ${ms}`);
    }
    if (this.warmupSeenCount < this.warmupRuns) {
      this.warmupSeenCount += 1;
      return;
    }
    this.window.push(ms);
    if (this.window.length > this.windowSize) this.window.shift();
    this.emaValue = Number.isNaN(this.emaValue) ? ms
      : this.emaAlpha * ms + (1 - this.emaAlpha) * this.emaValue;
  }

  warmupSeen() { return this.warmupSeenCount; }
  count() { return this.window.length; }
  last() { return this.window.length ? this.window[this.window.length - 1] : NaN; }
  ema() { return this.emaValue; }

  mean() {
    if (!this.window.length) return NaN;
    let total = 0;
    for (const value of this.window) total += value;
    return total / this.window.length;
  }

  p50() { return this.percentile(50); }
  p90() { return this.percentile(90); }

  percentile(percent) {
    if (!this.window.length) return NaN;
    return nearestRank([...this.window].sort((a, b) => a - b), percent);
  }
}

/** Tuning of WidthSelector; the defaults of the Python SelectorConfig and the Java Config. */
export class SelectorConfig {
  constructor({downAfter = 3, upAfter = 10, upMargin = 0.15, probeEvery = 50, mode = WIDEST,
    windowSize = 20, warmupRuns = 3, emaAlpha = 0.2} = {}) {
    for (const [name, value] of [['down_after', downAfter], ['up_after', upAfter],
      ['probe_every', probeEvery]]) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an int >= 1, got ${value}`);
    }
    if (!isFiniteNumber(upMargin) || !(upMargin >= 0 && upMargin < 1)) {
      throw new RangeError(`up_margin must be in [0, 1), got ${upMargin}`);
    }
    if (!MODES.includes(mode)) throw new RangeError(`mode must be one of ${MODES}, got ${mode}`);
    Object.assign(this, {downAfter, upAfter, upMargin, probeEvery, mode, windowSize, warmupRuns, emaAlpha});
    this.newTracker();  // validates the tracker's parameters
  }

  /** A config from a trace's snake_case "config" object (unknown keys refused). */
  static fromJson(overrides = {}) {
    const names = {down_after: 'downAfter', up_after: 'upAfter', up_margin: 'upMargin',
      probe_every: 'probeEvery', mode: 'mode', window_size: 'windowSize', warmup_runs: 'warmupRuns',
      ema_alpha: 'emaAlpha'};
    const options = {};
    for (const [key, value] of Object.entries(overrides || {})) {
      if (!(key in names)) throw new RangeError(`unknown config key ${key}; known: ${Object.keys(names)}`);
      options[names[key]] = value;
    }
    return new SelectorConfig(options);
  }

  newTracker() {
    return new LatencyTracker(this.windowSize, this.warmupRuns, this.emaAlpha);
  }
}

/** Raised by WidthSelector.pick when every model failed to load. */
export class NoUsableModelError extends Error {}

/**
 * Picks the model to run next from measured latencies and a budget. `models` are candidates
 * `{width, top1, id}` of one precision, uniform widths, strictly ascending; the methods take
 * the same objects (compared by identity).
 */
export class WidthSelector {
  constructor(models, budgetMs, config = new SelectorConfig()) {
    this.modelList = [...models];
    this.config = config;
    if (!this.modelList.length) throw new RangeError('the model list is empty');
    for (const model of this.modelList) {
      if (!isFiniteNumber(model.width) || model.width <= 0) {
        throw new RangeError(`model width must be > 0, got ${model.width}`);
      }
      if (config.mode === MAX_ACCURACY && !isFiniteNumber(model.top1)) {
        throw new RangeError(`mode max_accuracy needs top1 for every model; width ${model.width} has ${model.top1}`);
      }
    }
    for (let i = 1; i < this.modelList.length; i++) {
      if (!(this.modelList[i - 1].width < this.modelList[i].width)) {
        throw new RangeError(`model widths must be strictly ascending; got ${this.modelList[i - 1].width} `
          + `before ${this.modelList[i].width}`);
      }
    }
    WidthSelector.checkBudget(budgetMs);
    this.budgetMs = budgetMs;
    this.trackers = this.modelList.map(() => config.newTracker());
    this.failed = this.modelList.map(() => false);
    this.currentIndex = null;
    this.over = 0;
    this.under = 0;
    this.runsSinceProbe = 0;
  }

  models() { return [...this.modelList]; }
  current() { return this.currentIndex === null ? null : this.modelList[this.currentIndex]; }
  tracker(model) { return this.trackers[this.position(model)]; }
  isFailed(model) { return this.failed[this.position(model)]; }

  /** Never picks `model` again; re-picks if it is the current model. */
  markFailed(model) {
    const i = this.position(model);
    this.failed[i] = true;
    if (this.currentIndex === i) this.pick();
  }

  /**
   * Chooses the current model from scratch and resets the counters: among models that fit
   * (samples and p90 <= budget) the widest (or the most accurate, the narrower on a tie);
   * if none fits, the lowest p90 among measured models; if none is measured, the narrowest.
   */
  pick() {
    const alive = this.modelList.map((_, i) => i).filter((i) => !this.failed[i]);
    if (!alive.length) throw new NoUsableModelError('every model failed to load');
    const fitting = alive.filter((i) => this.fits(i));
    let chosen;
    if (fitting.length) {
      chosen = this.bestOfFitting(fitting);
    } else {
      const measured = alive.filter((i) => this.trackers[i].count() > 0);
      chosen = measured.length ? this.lowestP90(measured) : alive[0];
    }
    this.switchTo(chosen);
    return this.modelList[chosen];
  }

  /** Records a start-up benchmark sample; changes no decision state. */
  onBenchmark(model, ms) {
    this.trackers[this.position(model)].add(ms);
  }

  /** Records a measured run and applies the switching rules if `model` is current. */
  onResult(model, ms) {
    const i = this.position(model);
    this.trackers[i].add(ms);
    if (i !== this.currentIndex) return;  // a probe: statistics only
    this.runsSinceProbe += 1;
    const cfg = this.config;
    if (ms > this.budgetMs) {
      this.over += 1;
      this.under = 0;
      if (this.over >= cfg.downAfter) {
        const narrower = this.neighbour(i, -1);
        if (narrower !== null) this.switchTo(narrower);
        this.over = this.under = 0;
      }
    } else if (ms <= this.budgetMs * (1 - cfg.upMargin)) {
      this.under += 1;
      this.over = 0;
      if (this.under >= cfg.upAfter) {
        const wider = this.neighbour(i, +1);
        if (wider !== null && this.mayStepUp(i, wider)) this.switchTo(wider);
        this.over = this.under = 0;
      }
    } else {
      this.over = this.under = 0;
    }
  }

  /**
   * Runs the current model once (`runModel(candidate)` returns its latency in ms), applies the
   * rules, then runs the probe if one is due; returns {ran, ms, probe, probeMs, current}.
   */
  step(runModel) {
    const ran = this.requireCurrent();
    const ms = runModel(ran);
    this.onResult(ran, ms);
    const probe = this.nextProbe();
    const probeMs = probe === null ? null : runModel(probe);
    if (probe !== null) this.onResult(probe, probeMs);
    return {ran, ms, probe, probeMs, current: this.current()};
  }

  /** `step` for an asynchronous `runModel` (the browser's LiteRT.js runs return promises). */
  async stepAsync(runModel) {
    const ran = this.requireCurrent();
    const ms = await runModel(ran);
    this.onResult(ran, ms);
    const probe = this.nextProbe();
    const probeMs = probe === null ? null : await runModel(probe);
    if (probe !== null) this.onResult(probe, probeMs);
    return {ran, ms, probe, probeMs, current: this.current()};
  }

  requireCurrent() {
    const current = this.current();
    if (current === null) throw new Error('call pick() before step()');
    return current;
  }

  /** The wider neighbour to run once now (due every probe_every runs of the current model), or null. */
  nextProbe() {
    if (this.currentIndex === null || this.runsSinceProbe < this.config.probeEvery) return null;
    const wider = this.neighbour(this.currentIndex, +1);
    if (wider === null) return null;
    this.runsSinceProbe = 0;
    return this.modelList[wider];
  }

  /** Changes the budget and re-picks. */
  setBudget(budgetMs) {
    WidthSelector.checkBudget(budgetMs);
    this.budgetMs = budgetMs;
    return this.pick();
  }

  static checkBudget(budgetMs) {
    if (!isFiniteNumber(budgetMs) || budgetMs <= 0) {
      throw new RangeError(`budget must be a finite number > 0 ms, got ${budgetMs}`);
    }
  }

  position(model) {
    const i = this.modelList.indexOf(model);
    if (i < 0) throw new RangeError(`${JSON.stringify(model)} is not one of this selector's models`);
    return i;
  }

  fits(i) {
    const tracker = this.trackers[i];
    return tracker.count() > 0 && tracker.p90() <= this.budgetMs;
  }

  bestOfFitting(fitting) {
    if (this.config.mode === WIDEST) return fitting[fitting.length - 1];
    let best = fitting[0];
    for (const i of fitting.slice(1)) {
      if (this.modelList[i].top1 > this.modelList[best].top1) best = i;
    }
    return best;
  }

  lowestP90(measured) {
    let best = measured[0];
    for (const i of measured.slice(1)) {
      if (this.trackers[i].p90() < this.trackers[best].p90()) best = i;
    }
    return best;
  }

  /** The nearest non-failed model from `i` in direction `step`, or null. */
  neighbour(i, step) {
    for (let j = i + step; j >= 0 && j < this.modelList.length; j += step) {
      if (!this.failed[j]) return j;
    }
    return null;
  }

  /** Whether the wider neighbour qualifies: unmeasured or its last sample within the budget. */
  mayStepUp(current, wider) {
    const tracker = this.trackers[wider];
    if (tracker.count() > 0 && !(tracker.last() <= this.budgetMs)) return false;
    if (this.config.mode === MAX_ACCURACY) return this.modelList[wider].top1 > this.modelList[current].top1;
    return true;
  }

  switchTo(i) {
    this.currentIndex = i;
    this.over = this.under = 0;
    this.runsSinceProbe = 0;
  }
}

/**
 * Replays a recorded trace (android_demo/traces/*.json) like trace_runner.run_trace:
 * failed models, start-up samples, pick, then per step a budget change and a step.
 * Returns the picked width after each step.
 */
export function runTrace(trace) {
  const models = trace.models.map((m) => ({width: m.width, top1: m.top1 === null || m.top1 === undefined ? NaN : m.top1}));
  const byWidth = new Map(models.map((m) => [m.width, m]));
  const selector = new WidthSelector(models, trace.budget_ms, SelectorConfig.fromJson(trace.config));
  for (const width of trace.fail_to_load || []) {
    if (!byWidth.has(width)) throw new RangeError(`width ${width} is not one of the trace's models`);
    selector.markFailed(byWidth.get(width));
  }
  const startup = widthKeyMap(trace.startup || {});
  for (const model of models) {
    for (const ms of startup.get(model.width) || []) selector.onBenchmark(model, ms);
  }
  selector.pick();
  const changes = new Map(Object.entries(trace.budget_changes || {}).map(([t, b]) => [Number(t), b]));
  for (const t of changes.keys()) {
    if (!(t >= 0 && t < trace.steps.length)) throw new RangeError(`budget change at step ${t} is outside 0..${trace.steps.length - 1}`);
  }
  return trace.steps.map((rawRow, t) => {
    const row = widthKeyMap(rawRow);
    if (changes.has(t)) selector.setBudget(changes.get(t));
    return selector.step((model) => {
      if (!row.has(model.width)) throw new RangeError(`step ${t} has no latency for width ${model.width}`);
      return row.get(model.width);
    }).current.width;
  });
}

function widthKeyMap(mapping) {
  return new Map(Object.entries(mapping).map(([key, value]) => [Number(key), value]));
}
