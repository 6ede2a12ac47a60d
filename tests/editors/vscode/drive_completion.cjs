// Inline completions in code-server, as a user meets them: type a function into a
// Python file, see ghost text, accept a word with Ctrl+Right, accept the rest with
// Tab, save; turn completions off from the status bar and type on (no ghost text).
// Prints one JSON line with what it saw; exits non-zero (with a screenshot) on failure.
'use strict';

const {
  drive,
  emulator,
  log,
  openFile,
  openWorkbench,
  statusText,
  tokenStatus,
  waitFor,
} = require('./driver_common.cjs');

const GHOST = '.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text';
const TOGGLE = '#workbench\\.parts\\.statusbar [aria-label*="GreyCloud inline completions"]';

async function ghostText(page) {
  const parts = page.locator(GHOST);
  if ((await parts.count()) === 0) return null;
  const texts = await parts.allInnerTexts();
  const text = texts.join('\n').replace(/\u00a0/g, ' ');
  return text.trim() ? text : null;
}

drive('vscode-completion-failure.png', async ({ page, shot, seen }) => {
  await openWorkbench(page);
  const editor = await openFile(page, 'completion_demo.py');
  // The server is up once the file's token count shows.
  seen.tokens = await waitFor('a token count in the status bar', () => tokenStatus(page), 90000);
  await emulator('DELETE', '_emulator/requests');
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
  await page.keyboard.type('def multiply(a, b):', { delay: 70 });
  await page.keyboard.press('Enter');
  await page.keyboard.type('return a', { delay: 70 });

  // 1. Ghost text at the cursor.
  seen.ghost = await waitFor('ghost text', () => ghostText(page), 60000, 100);
  await shot('vscode-completion-ghost.png');
  log(`ghost: ${JSON.stringify(seen.ghost)}`);

  // 2. Ctrl+Right accepts one word; the rest stays as ghost text.
  await page.keyboard.press('Control+ArrowRight');
  await new Promise((r) => setTimeout(r, 500));
  seen.ghostAfterWord = await ghostText(page);
  await shot('vscode-completion-word.png');

  // 3. Tab accepts the rest; then save.
  if (seen.ghostAfterWord) {
    await page.keyboard.press('Tab');
    await waitFor('the ghost text to go', async () => !(await ghostText(page)), 10000, 100);
  }
  await shot('vscode-completion-accepted.png');
  await page.keyboard.press('Control+S');
  await new Promise((r) => setTimeout(r, 800));

  // 4. The status bar item turns completions off; typing shows no ghost text.
  const toggle = page.locator(TOGGLE).first();
  await toggle.waitFor({ state: 'visible', timeout: 20000 });
  seen.toggleBefore = await toggle.getAttribute('aria-label');
  await toggle.click();
  seen.toggleAfter = await waitFor('the toggle to say off', async () => {
    const label = await toggle.getAttribute('aria-label');
    return label && label.includes('off') ? label : null;
  }, 20000);
  await shot('vscode-completion-off.png');
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  await page.keyboard.type('total = multiply(', { delay: 70 });
  await new Promise((r) => setTimeout(r, 3000));
  seen.ghostWhileOff = await ghostText(page);
  await page.keyboard.press('Control+S');
  await new Promise((r) => setTimeout(r, 800));
  // What reached the model while typing: completions only (generateContent).
  const logged = (await emulator('GET', '_emulator/requests')).requests;
  seen.modelCalls = logged.filter((r) => /generateContent/.test(r.action)).length;
  seen.status = await statusText(page);
});
