// Drives code-server in Debian Chromium through playwright-core, as a user
// would: open a file, read the GreyCloud token count from the status bar, edit,
// run "GreyCloud: Generate…" from the command palette, save. Prints one JSON
// line with what it saw; exits non-zero (with a screenshot) on failure.
'use strict';

const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const URL_BASE = process.env.CODE_SERVER_URL;
const WORKSPACE = process.env.GREYCLOUD_TEST_WORKSPACE;
const ARTIFACTS = process.env.GREYCLOUD_TEST_ARTIFACTS;
const PROMPT = process.env.GREYCLOUD_TEST_PROMPT || 'Write one sentence about token counting';
const TIMEOUT = Number(process.env.GREYCLOUD_TEST_TIMEOUT_MS || 60000);
const TOKENS_RE = /(~?)(\d+) tokens/;

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
    if (m) {
      return { text: m[0], exact: m[1] === '', tokens: Number(m[2]) };
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
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: TIMEOUT });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: TIMEOUT });
  await page.keyboard.press('Enter');
}

async function main() {
  const userDataDir = process.env.CHROMIUM_USER_DATA_DIR;
  // A new, empty profile for every run.
  const browser = await chromium.launchPersistentContext(userDataDir, {
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
  const seen = { console: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') seen.console.push(m.text().slice(0, 300));
  });
  try {
    const url = `${URL_BASE}/?folder=${encodeURIComponent(WORKSPACE)}`;
    log(`open ${url}`);
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: TIMEOUT });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: TIMEOUT });
    await page.locator('#workbench\\.parts\\.statusbar').waitFor({ state: 'visible', timeout: TIMEOUT });
    log('workbench up');

    // Open notes.md with Quick Open.
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    await page.keyboard.press('Control+P');
    const qi = page.locator('.quick-input-widget input');
    await qi.waitFor({ state: 'visible', timeout: TIMEOUT });
    await qi.fill('notes.md');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'notes.md' }).first().waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('Enter');
    await page.locator('.tab', { hasText: 'notes.md' }).first().waitFor({ timeout: TIMEOUT });
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.waitFor({ state: 'visible', timeout: TIMEOUT });
    log('notes.md open');

    // 1. Token count in the status bar.
    seen.initial = await waitFor('a token count in the status bar', () => tokenStatus(page), 90000);
    log(`status: ${seen.initial.text}`);

    // 2. Edit: the count follows.
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('The editor test adds this line so that the token count must change for sure.');
    seen.afterEdit = await waitFor('the token count to grow after the edit', async () => {
      const s = await tokenStatus(page);
      return s && s.tokens > seen.initial.tokens && s.exact ? s : null;
    });
    log(`status after edit: ${seen.afterEdit.text}`);
    await page.keyboard.press('Control+S');

    // 3. GreyCloud: Generate… from the palette; the answer lands in the document.
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await runPaletteCommand(page, 'GreyCloud: Generate');
    const box = page.locator('.quick-input-widget input');
    await box.waitFor({ state: 'visible', timeout: TIMEOUT });
    await page.locator('.quick-input-widget', { hasText: 'GreyCloud: Generate' }).waitFor({ timeout: TIMEOUT });
    await box.fill(PROMPT);
    await page.keyboard.press('Enter');
    log('prompt sent');
    seen.doneMessage = await waitFor('the generation to finish', async () => {
      const t = (await statusText(page)).find((x) => x.startsWith('GreyCloud: done') || x.startsWith('GreyCloud: cancelled'));
      if (t) return t;
      const err = await page.locator('.notifications-toasts', { hasText: 'Generate failed' }).count();
      if (err) throw new Error(await page.locator('.notifications-toasts').innerText());
      return null;
    });
    log(seen.doneMessage);
    await page.locator('.tab.dirty', { hasText: 'notes.md' }).first().waitFor({ timeout: TIMEOUT });
    await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+S');
    await page.locator('.tab.dirty', { hasText: 'notes.md' }).waitFor({ state: 'detached', timeout: TIMEOUT });
    seen.finalStatus = await tokenStatus(page);
    seen.visibleText = (await page.locator('.editor-instance .view-lines').first().innerText()).slice(0, 4000);
    await page.screenshot({ path: path.join(ARTIFACTS, 'vscode-generate.png') });
    log('saved, screenshot taken');
    process.stdout.write(JSON.stringify({ ok: true, ...seen }) + '\n');
  } catch (err) {
    seen.error = String(err && err.stack ? err.stack : err);
    seen.status = await statusText(page).catch(() => []);
    await page.screenshot({ path: path.join(ARTIFACTS, 'vscode-failure.png') }).catch(() => {});
    process.stdout.write(JSON.stringify({ ok: false, ...seen }) + '\n');
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(2);
});
