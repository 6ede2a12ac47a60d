// What the code-server drivers share: the environment they are given, status bar
// readers, waiting, the embedded emulator's admin API, launching Chromium, opening a file.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const URL_BASE = process.env.CODE_SERVER_URL;
const WORKSPACE = process.env.GREYCLOUD_TEST_WORKSPACE;
const ARTIFACTS = process.env.GREYCLOUD_TEST_ARTIFACTS;
const SERVER_LOG = process.env.GREYCLOUD_TEST_SERVER_LOG;
const TIMEOUT = Number(process.env.GREYCLOUD_TEST_TIMEOUT_MS || 60000);
const TOKENS_RE = /(~?)(\d+) tokens/;
const CACHE_RE = /cache (fresh|stale) · (\S+)/;

function log(msg) {
  process.stderr.write(`[drive] ${new Date().toISOString()} ${msg}\n`);
}

async function statusText(page) {
  const items = page.locator('#workbench\\.parts\\.statusbar .statusbar-item');
  const texts = await items.allInnerTexts();
  return texts.map((t) => t.trim()).filter(Boolean);
}

async function tokenStatus(page) {
  for (const t of await statusText(page)) {
    const m = TOKENS_RE.exec(t);
    if (m && !t.startsWith('GreyCloud:')) {
      return { text: m[0], exact: m[1] === '', tokens: Number(m[2]) };
    }
  }
  return null;
}

async function cacheStatus(page) {
  for (const t of await statusText(page)) {
    const m = CACHE_RE.exec(t);
    if (m) {
      return { text: t, state: m[1], left: m[2] };
    }
  }
  return null;
}

async function waitFor(what, fn, timeout = TIMEOUT, interval = 200) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeout) {
    last = await fn();
    if (last) {
      return last;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
}

async function runPaletteCommand(page, title) {
  const input = page.locator('.quick-input-widget input');
  const rows = page.locator('.quick-input-widget .monaco-list-row', { hasText: title });
  // The palette can lose the focus and close as it opens (e.g. while the answer view of the
  // previous question is revealed): open it again, up to 3 times, rather than wait 30 s.
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 10000 });
      await input.fill(`>${title}`, { timeout: 10000 });
      await rows.first().waitFor({ state: 'visible', timeout: 10000 });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      log(`palette attempt ${attempt} for ${title}: ${String(err).split('\n')[0]}`);
      await page.keyboard.press('Escape');
    }
  }
  // Click the row whose label is exactly `title` (others may only start with it).
  const texts = await rows.allInnerTexts();
  const exact = texts.findIndex((t) => t.split('\n')[0].trim() === title);
  await rows.nth(exact >= 0 ? exact : 0).click();
}

/** Answer the input box titled `title` with `text`. */
async function answerInput(page, title, text) {
  const box = page.locator('.quick-input-widget input');
  await box.waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.locator('.quick-input-widget', { hasText: title }).waitFor({ timeout: TIMEOUT });
  await box.fill(text);
  await page.keyboard.press('Enter');
}

async function failedToast(page) {
  const toasts = page.locator('.notifications-toasts', { hasText: /failed/ });
  if (await toasts.count()) {
    throw new Error(`error notification: ${await toasts.first().innerText()}`);
  }
}

/** The emulator of the running server (the last one the server log names), for its admin API. */
function emulatorUrl() {
  const text = fs.readFileSync(SERVER_LOG, 'utf8');
  const all = [...text.matchAll(/embedded emulator at (http:\/\/127\.0\.0\.1:\d+\/)/g)];
  if (!all.length) throw new Error(`no emulator URL in ${SERVER_LOG}`);
  return all[all.length - 1][1];
}

async function emulator(method, route, body) {
  const res = await fetch(emulatorUrl() + route, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${route} -> ${res.status} ${await res.text()}`);
  return res.json();
}

/** The text of the editor group whose active tab is `label`. */
async function editorText(page, label) {
  const group = page.locator('.editor-group-container', { has: page.locator('.tab.active', { hasText: label }) });
  return (await group.locator('.monaco-editor .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
}

/**
 * The editor's text once the view has caught up: Monaco removes deleted rows at once but
 * repaints changed ones on the next animation frame, so one read can mix old and new.
 */
async function settledText(page, label, timeout = 10000) {
  const frames = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  let last = await editorText(page, label);
  const t0 = Date.now();
  for (;;) {
    await frames();
    await new Promise((r) => setTimeout(r, 100));
    const now = await editorText(page, label);
    if (now === last || Date.now() - t0 > timeout) {
      return now;
    }
    last = now;
  }
}

/** A fresh Chromium profile on code-server; `shot(name)` saves a screenshot to the artifacts. */
async function launch() {
  const browser = await chromium.launchPersistentContext(process.env.CHROMIUM_USER_DATA_DIR, {
    viewport: { width: 1400, height: 900 },
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  const shot = async (name) => {
    await page.screenshot({ path: path.join(ARTIFACTS, name) });
    log(`screenshot ${name}`);
  };
  return { browser, page, shot };
}

/** Open the workspace in the browser and wait for the workbench and its status bar. */
async function openWorkbench(page) {
  const url = `${URL_BASE}/?folder=${encodeURIComponent(WORKSPACE)}`;
  log(`open ${url}`);
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: TIMEOUT });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.locator('#workbench\\.parts\\.statusbar').waitFor({ state: 'visible', timeout: TIMEOUT });
  log('workbench up');
}

/** Open a workspace file with Quick Open; returns its editor. */
async function openFile(page, name) {
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
  await page.keyboard.press('Control+P');
  const qi = page.locator('.quick-input-widget input');
  await qi.waitFor({ state: 'visible', timeout: TIMEOUT });
  await qi.fill(name);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ timeout: TIMEOUT });
  await page.keyboard.press('Enter');
  await page.locator('.tab', { hasText: name }).first().waitFor({ timeout: TIMEOUT });
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await editor.waitFor({ state: 'visible', timeout: TIMEOUT });
  log(`${name} open`);
  return editor;
}

/** Run one driver: `body({ page, shot, seen })` fills `seen`. Prints one JSON line (`ok`
 *  and what was seen); on failure also the error, the status bar and a screenshot named
 *  `failureShot`, and exits non-zero. */
function drive(failureShot, body) {
  const run = async () => {
    const { browser, page, shot } = await launch();
    const seen = { console: [] };
    page.on('console', (m) => {
      if (m.type() === 'error') seen.console.push(m.text().slice(0, 300));
    });
    try {
      await body({ page, shot, seen });
      process.stdout.write(JSON.stringify({ ok: true, ...seen }) + '\n');
    } catch (err) {
      seen.error = String(err && err.stack ? err.stack : err);
      seen.status = await statusText(page).catch(() => []);
      await page.screenshot({ path: path.join(ARTIFACTS, failureShot) }).catch(() => {});
      process.stdout.write(JSON.stringify({ ok: false, ...seen }) + '\n');
      process.exitCode = 1;
    } finally {
      await browser.close();
    }
  };
  run().catch((err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
    process.exit(2);
  });
}

module.exports = {
  ARTIFACTS,
  SERVER_LOG,
  TIMEOUT,
  WORKSPACE,
  answerInput,
  cacheStatus,
  drive,
  editorText,
  emulator,
  emulatorUrl,
  failedToast,
  launch,
  settledText,
  log,
  openFile,
  openWorkbench,
  runPaletteCommand,
  statusText,
  tokenStatus,
  waitFor,
};
