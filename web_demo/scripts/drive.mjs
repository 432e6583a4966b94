// Drives the page in Debian's Chromium (puppeteer-core; no browser is downloaded) for
// tests/test_web_demo.py and benchmarks/web_latency.py.
//
//   node scripts/drive.mjs PLAN.json   ->   a JSON list of results on stdout
//
// PLAN is a list of visits {url, samples: N, budgets: [ms] | "auto" | "between", preprocess:
// {rgba, width}, liveMs: MS, screenshot: PATH}: each opens `url`, waits for the page's start
// (window.demo.ready) and records its state; then (when the page is ready) classifies the first
// N sample images at every width, sets each budget ("auto": below the narrowest width's p90,
// between the p90s of the two middle widths, above the widest's; "between": only the middle
// one) recording the pick, turns the `preprocess` image into model input, runs the app's live
// loop for `liveMs`, and takes a screenshot. One browser serves every visit.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import puppeteer from 'puppeteer-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const profile = mkdtempSync(join(tmpdir(), 'slimkeras-chromium-'));
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir: profile,
  // --disable-dev-shm-usage: containers often have a 64 MB /dev/shm, too small for Chromium.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const results = [];
try {
  for (const visit of plan) results.push(await run(visit));
} finally {
  await browser.close();
  rmSync(profile, {recursive: true, force: true});
}
process.stdout.write(JSON.stringify(results));

async function run(visit) {
  const page = await browser.newPage();
  await page.setViewport({width: 1280, height: 900});
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  const start = Date.now();
  await page.goto(visit.url, {waitUntil: 'load'});
  await page.waitForFunction(() => window.demo !== undefined);
  await page.evaluate(() => window.demo.ready);
  const result = {url: visit.url, wallMs: Date.now() - start, console: logs};
  result.state = await page.evaluate(() => window.demo.state());
  result.error = await page.$eval('#error', (e) => (e.style.display === 'none' ? '' : e.textContent));
  if (result.state.state === 'ready') {
    await page.evaluate(() => window.demo.pause());
    result.images = [];
    for (let i = 0; i < (visit.samples || 0); i++) {
      result.images.push(await page.evaluate(async (n) => {
        const sample = await window.demo.selectSample(n);
        return {sample, ...(await window.demo.classifyAll())};
      }, i));
    }
    result.state = await page.evaluate(() => window.demo.state());
    result.picks = [];
    for (const budget of budgetsOf(visit.budgets, result.state)) {
      result.picks.push({budget, picked: await page.evaluate((b) => window.demo.setBudget(b), budget)});
    }
    if (visit.preprocess) {
      result.preprocessed = await page.evaluate((v) => window.demo.preprocess(v.rgba, v.width), visit.preprocess);
    }
    result.top1Dom = await page.$eval('#top3 li', (li) => li.dataset.label).catch(() => null);
  }
  if (visit.liveMs && result.state.state === 'ready') {
    await page.evaluate((ms) => { window.demo.resume(); return new Promise((r) => setTimeout(r, ms)); }, visit.liveMs);
    await page.evaluate(() => window.demo.pause());
    result.live = await page.evaluate(() => window.demo.state());
  }
  if (visit.screenshot) await page.screenshot({path: visit.screenshot, fullPage: true});
  await page.close();
  return result;
}

function budgetsOf(budgets, state) {
  if (budgets !== 'auto' && budgets !== 'between') return budgets || [];
  const p90 = state.models.map((m) => nearestRankP90(m.window));
  const mid = Math.floor(p90.length / 2);
  const between = (p90[mid - 1] + p90[mid]) / 2;
  return budgets === 'between' ? [between] : [Math.min(...p90) * 0.5, between, Math.max(...p90) * 1.5];
}

function nearestRankP90(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((90 * sorted.length + 99) / 100) - 1];
}
