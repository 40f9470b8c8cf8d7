// Shared harness for pacsd's browser scenarios: launches Debian's Chromium through
// playwright-core (never a browser of playwright's own), records what the page fetched and
// logged, runs named steps, saves screenshots and prints one JSON result line on stdout.
// The Go side (internal/browsertest) starts a scenario script, forwards its output to the
// test log and reads that line.
//
// Environment:
//   PACSD_BASE_URL              origin of the server under test (or the first argument)
//   PACSD_ARTIFACTS             folder for screenshots (or the second argument); created
//   BROWSERTEST_CHROMIUM        the browser binary (default /usr/bin/chromium)
//   BROWSERTEST_USER_DATA_DIR   a fresh profile folder (default: a new temporary one)
//   BROWSERTEST_STEP_TIMEOUT_MS default wait of one step's actions (default 30000)

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The machine's network is closed: without these, Chromium keeps trying to reach Google's
// services (component updates, sync, QUIC probes) and some starts hang on it.
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class Run {
  constructor(name) {
    this.name = name;
    this.baseURL = (process.env.PACSD_BASE_URL || process.argv[2] || '').replace(/\/+$/, '');
    if (!this.baseURL) {
      throw new Error('no base URL: set PACSD_BASE_URL or pass it as the first argument');
    }
    this.origin = new URL(this.baseURL).origin;
    this.artifacts = process.env.PACSD_ARTIFACTS || process.argv[3] ||
      path.join(os.tmpdir(), `browsertest-${name}`);
    fs.mkdirSync(this.artifacts, { recursive: true });
    this.stepTimeout = Number(process.env.BROWSERTEST_STEP_TIMEOUT_MS || 30000);
    this.steps = [];
    this.screenshots = [];
    this.httpErrors = []; // responses with status >= 400
    this.requestFailures = []; // requests that got no response
    this.consoleErrors = [];
    this.pageErrors = [];
    this.requests = []; // every request to the server under test: method, url, status
    this.started = Date.now();
  }

  log(...args) {
    // stderr: stdout carries only the result line.
    console.error(`[${((Date.now() - this.started) / 1000).toFixed(1)}s]`, ...args);
  }

  async launch() {
    let userDataDir = process.env.BROWSERTEST_USER_DATA_DIR;
    if (!userDataDir) {
      userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'browsertest-profile-'));
      this.ownProfile = userDataDir;
    }
    this.context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.BROWSERTEST_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: chromiumArgs,
      viewport: { width: 1280, height: 800 },
      timeout: 60000,
    });
    this.context.setDefaultTimeout(this.stepTimeout);
    this.page = this.context.pages()[0] || (await this.context.newPage());
    this.watch(this.page);
    return this.page;
  }

  watch(page) {
    page.on('response', (r) => {
      const req = r.request();
      if (!r.url().startsWith(this.origin)) return;
      const entry = { method: req.method(), url: r.url(), status: r.status() };
      this.requests.push(entry);
      if (r.status() >= 400) {
        this.httpErrors.push(entry);
        this.log('HTTP', r.status(), req.method(), r.url());
      }
    });
    page.on('requestfailed', (req) => {
      const err = req.failure()?.errorText || 'failed';
      // A request the page itself cancelled (navigation, a viewport that moved on) is not a
      // server failure.
      if (err.includes('ERR_ABORTED')) return;
      this.requestFailures.push({ method: req.method(), url: req.url(), error: err });
      this.log('request failed', req.method(), req.url(), err);
    });
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(m.text().slice(0, 500));
    });
    page.on('pageerror', (e) => {
      this.pageErrors.push(String(e.message || e).slice(0, 500));
      this.log('page error', e.message);
    });
  }

  // step runs fn as a named step; a failure is recorded (with a screenshot) and the scenario
  // goes on unless the step is marked fatal.
  async step(name, fn, { fatal = false } = {}) {
    const t0 = Date.now();
    this.log('step', name);
    const step = { name, ok: true };
    this.steps.push(step);
    try {
      const detail = await fn();
      if (detail !== undefined) step.detail = detail;
    } catch (e) {
      step.ok = false;
      step.error = String(e && e.message ? e.message : e).split('\n').slice(0, 6).join('\n');
      this.log('step failed:', name, step.error);
      await this.screenshot(`failed-${slug(name)}`).catch(() => {});
      if (fatal) throw e;
    } finally {
      step.ms = Date.now() - t0;
    }
    return step.ok;
  }

  async screenshot(name) {
    const file = path.join(this.artifacts, `${name}.png`);
    await this.page.screenshot({ path: file });
    this.screenshots.push(file);
    return file;
  }

  // finish prints the result line and returns the process exit code.
  async finish(extraChecks = true) {
    if (extraChecks) {
      // Every response from the server under test must have been a success: a 404 asset or
      // a DICOMweb request the server refused is a failure even when the page coped.
      const sameOrigin = this.httpErrors.filter((e) => e.url.startsWith(this.origin));
      this.steps.push({
        name: 'no failed requests',
        ok: sameOrigin.length === 0 && this.requestFailures.length === 0,
        detail: { httpErrors: sameOrigin.length, requestFailures: this.requestFailures.length },
      });
    }
    try {
      await this.context?.close();
    } catch (e) {
      this.log('closing the browser:', e.message);
    }
    if (this.ownProfile) fs.rmSync(this.ownProfile, { recursive: true, force: true });
    const ok = this.steps.every((s) => s.ok);
    const result = {
      scenario: this.name,
      ok,
      seconds: (Date.now() - this.started) / 1000,
      steps: this.steps,
      httpErrors: this.httpErrors,
      requestFailures: this.requestFailures,
      pageErrors: this.pageErrors,
      consoleErrors: this.consoleErrors.slice(0, 50),
      requests: this.requests.length,
      requestKinds: kinds(this.requests, this.origin),
      screenshots: this.screenshots,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
    return ok ? 0 : 1;
  }
}

// kinds counts requests by method, status and path with UIDs and numbers replaced, e.g.
// "GET 200 /dicomweb/studies/{uid}/series/{uid}/metadata": what the page asked of the server.
function kinds(requests, origin) {
  const out = {};
  for (const r of requests) {
    const u = new URL(r.url, origin);
    let p = u.pathname.replace(/\/[0-9]+(\.[0-9]+)+(?=\/|$)/g, '/{uid}').replace(/\/[0-9]+(?=\/|$)/g, '/{n}');
    // Static files of a web app: one entry per kind of file, not per file.
    const ext = p.match(/\.(js|css|wasm|png|svg|ico|json|woff2|xml)$/);
    if (ext) p = p.replace(/[^/]+$/, '*.' + ext[1]);
    const key = `${r.method} ${r.status} ${p}${u.search ? '?' : ''}`;
    out[key] = (out[key] || 0) + 1;
  }
  return out;
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

// canvasStats samples a canvas (2D, or WebGL drawn through a 2D copy) on a grid and returns
// its luminance mean and variance, and a hash of the sampled pixels that changes when the
// picture does. Returns null when no canvas matches.
export async function canvasStats(page, selector) {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel);
    if (!c || !c.width || !c.height) return null;
    let ctx = c.getContext('2d', { willReadFrequently: true });
    let src = c;
    if (!ctx) {
      // A WebGL canvas: copy it first (valid while its drawing buffer is current).
      src = document.createElement('canvas');
      src.width = c.width;
      src.height = c.height;
      ctx = src.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(c, 0, 0);
    }
    return statsOf(ctx.getImageData(0, 0, src.width, src.height), src.width, src.height);

    function statsOf(img, w, h) {
      const d = img.data;
      const step = Math.max(1, Math.floor(Math.min(w, h) / 128));
      let n = 0, sum = 0, sum2 = 0, hash = 2166136261;
      for (let y = 0; y < h; y += step) {
        for (let x = 0; x < w; x += step) {
          const i = (y * w + x) * 4;
          const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
          n++;
          sum += v;
          sum2 += v * v;
          hash = Math.imul(hash ^ d[i], 16777619) ^ Math.imul(d[i + 1], 31) ^ Math.imul(d[i + 2], 131);
        }
      }
      const mean = sum / n;
      return { width: w, height: h, samples: n, mean, variance: sum2 / n - mean * mean, hash: hash >>> 0 };
    }
  }, selector);
}

// canvasGrid returns the mean luminance of each cell of an n x n grid over a 2D canvas: a
// small picture of what is shown, to compare two renderings (see correlation).
export async function canvasGrid(page, selector, n = 32) {
  return page.evaluate(({ sel, n }) => {
    const c = document.querySelector(sel);
    if (!c || !c.width || !c.height) return null;
    const d = c.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, c.width, c.height).data;
    const sums = new Array(n * n).fill(0), counts = new Array(n * n).fill(0);
    const step = Math.max(1, Math.floor(Math.min(c.width, c.height) / (4 * n)));
    for (let y = 0; y < c.height; y += step) {
      for (let x = 0; x < c.width; x += step) {
        const i = (y * c.width + x) * 4;
        const cell = Math.floor((y * n) / c.height) * n + Math.floor((x * n) / c.width);
        sums[cell] += (d[i] + d[i + 1] + d[i + 2]) / 3;
        counts[cell]++;
      }
    }
    return sums.map((s, i) => (counts[i] ? s / counts[i] : 0));
  }, { sel: selector, n });
}

// correlation is Pearson's r of two equal-length vectors (0 when either is constant).
export function correlation(a, b) {
  const n = Math.min(a.length, b.length);
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let cov = 0, va = 0, vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return va && vb ? cov / Math.sqrt(va * vb) : 0;
}

// imageStats does the same for every <img> matching selector (decoded first).
export async function imageStats(page, selector) {
  return page.evaluate(async (sel) => {
    const out = [];
    for (const im of document.querySelectorAll(sel)) {
      try {
        await im.decode();
      } catch {
        out.push(null);
        continue;
      }
      const w = im.naturalWidth, h = im.naturalHeight;
      if (!w || !h) {
        out.push(null);
        continue;
      }
      const c = document.createElement('canvas');
      c.width = w;
      c.height = h;
      const ctx = c.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(im, 0, 0);
      const d = ctx.getImageData(0, 0, w, h).data;
      let n = 0, sum = 0, sum2 = 0;
      for (let i = 0; i < d.length; i += 4 * 7) {
        const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
        n++;
        sum += v;
        sum2 += v * v;
      }
      const mean = sum / n;
      out.push({ width: w, height: h, mean, variance: sum2 / n - mean * mean });
    }
    return out;
  }, selector);
}

// imageGrid is imageStats' picture of the first image matching selector as an n x n grid of
// mean luminances, for correlation (null until the image has loaded).
export async function imageGrid(page, selector, n = 16) {
  return page.evaluate(async ({ sel, n }) => {
    const im = document.querySelector(sel);
    if (!im) return null;
    try {
      await im.decode();
    } catch {
      return null;
    }
    const w = im.naturalWidth, h = im.naturalHeight;
    if (!w || !h) return null;
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(im, 0, 0);
    const d = ctx.getImageData(0, 0, w, h).data;
    const sums = new Array(n * n).fill(0), counts = new Array(n * n).fill(0);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        const cell = Math.floor((y * n) / h) * n + Math.floor((x * n) / w);
        sums[cell] += (d[i] + d[i + 1] + d[i + 2]) / 3;
        counts[cell]++;
      }
    }
    return sums.map((s, i) => (counts[i] ? s / counts[i] : 0));
  }, { sel: selector, n });
}

// poll calls fn until it returns a truthy value or timeoutMs passes; then it throws with
// the last value seen.
export async function poll(what, fn, timeoutMs, intervalMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last && last.ok) return last;
    if (Date.now() > end) {
      throw new Error(`${what}: not reached in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// signIn logs in through the reading room's form and waits to leave /login.
export async function signIn(run, page, username, password) {
  await page.goto(run.baseURL + '/login');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type=submit]')]);
}

// signOut logs out with the header's button and waits for the login page.
export async function signOut(run, page) {
  await page.goto(run.baseURL + '/');
  await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/login')), page.click('header form button')]);
}
