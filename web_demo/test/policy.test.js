// The page's policy (src/policy.js) replays every recorded trace of android_demo/traces with
// the picks the trace records (written by the Python policy; the Java core replays the same
// files in its JUnit tests and tests/test_switch_policy.py in Python).
import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {LatencyTracker, SelectorConfig, WidthSelector, runTrace} from '../src/policy.js';

const TRACES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'android_demo', 'traces');
const traceFiles = readdirSync(TRACES).filter((name) => name.endsWith('.json')).sort();

test('there are traces to replay', () => {
  assert.ok(traceFiles.length >= 6, `only ${traceFiles.length} traces in ${TRACES}`);
});

for (const name of traceFiles) {
  test(`trace ${name}: the same pick as Python and Java at every step`, () => {
    const trace = JSON.parse(readFileSync(join(TRACES, name), 'utf8'));
    const picks = runTrace(trace);
    assert.equal(picks.length, trace.expected_picks.length);
    const first = picks.findIndex((w, t) => w !== trace.expected_picks[t]);
    assert.equal(first, -1, `step ${first}: picked ${picks[first]}, expected ${trace.expected_picks[first]}`);
  });
}

test('tracker: warm-up discarded, nearest-rank p50/p90 like the Python twin', () => {
  const tracker = new LatencyTracker(10, 2, 0.5);
  for (const ms of [100, 100, 5, 1, 4, 2, 3, 9, 8, 7, 6, 10]) tracker.add(ms);
  assert.equal(tracker.warmupSeen(), 2);
  assert.equal(tracker.count(), 10);
  assert.equal(tracker.p50(), 5);
  assert.equal(tracker.p90(), 9);
  assert.equal(tracker.last(), 10);
  assert.ok(Number.isNaN(new LatencyTracker().p90()));
  assert.throws(() => tracker.add(-1), /latency must be/);
});

test('a changed budget re-picks the widest model whose p90 fits', () => {
  const models = [{width: 0.25}, {width: 0.5}, {width: 1.0}];
  const selector = new WidthSelector(models, 10, new SelectorConfig({warmupRuns: 0}));
  models.forEach((m, i) => selector.onBenchmark(m, [1, 2, 4][i]));
  assert.equal(selector.pick().width, 1.0);
  assert.equal(selector.setBudget(3).width, 0.5);
  assert.equal(selector.setBudget(0.5).width, 0.25);  // nothing fits: the lowest p90
  assert.throws(() => selector.setBudget(0), /budget must be/);
});
