// Drives code-server in Debian Chromium through playwright-core, as a user
// would: open a file, read the GreyCloud token count from the status bar, edit,
// restart the server, ask the workspace twice (the first question creates the
// cache, the answer streams into the answer view while the emulator is slowed
// down), run "GreyCloud: Generate…" in insert mode, undo it in one step, redo,
// save (the cache turns stale). Prints one JSON line with what it saw; exits
// non-zero (with a screenshot) on failure.
'use strict';

const fs = require('fs');
const path = require('path');
const {
  TIMEOUT,
  WORKSPACE,
  answerInput,
  cacheStatus,
  drive,
  editorText,
  emulator,
  failedToast,
  log,
  openFile,
  openWorkbench,
  runPaletteCommand,
  settledText,
  statusText,
  tokenStatus,
  waitFor,
} = require('./driver_common.cjs');

const PROMPT = process.env.GREYCLOUD_TEST_PROMPT || 'Write one sentence about token counting [[words=40]]';

drive('vscode-failure.png', async ({ page, shot, seen }) => {
  await openWorkbench(page);
  const editor = await openFile(page, 'notes.md');

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

  // 3. A greycloud.server.* setting changes while the editor runs (as when code-server
  //    delivers settings late; here a workspace setting): the extension restarts the server by itself.
  fs.mkdirSync(path.join(WORKSPACE, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(WORKSPACE, '.vscode', 'settings.json'), JSON.stringify({ 'greycloud.server.logLevel': 'INFO' }));
  await waitFor('the token count to go away during the restart', async () => !(await tokenStatus(page)), 20000, 50).catch(() => null);
  seen.afterSettingsRestart = await waitFor('a token count after the settings change', () => tokenStatus(page), 90000);
  log(`status after the settings change: ${seen.afterSettingsRestart.text}`);

  // 4. Restart the server from the palette: the count comes back from the new process.
  await runPaletteCommand(page, 'GreyCloud: Restart Language Server');
  await waitFor('the token count to go away during the restart', async () => !(await tokenStatus(page)), 20000, 50).catch(() => null);
  seen.afterRestart = await waitFor('a token count after the restart', () => tokenStatus(page), 90000);
  log(`status after restart: ${seen.afterRestart.text}`);

  // 5. Ask the Workspace: no cache yet, so it says what it will cache, then creates it.
  //    The emulator streams slowly so the answer is seen growing.
  await emulator('POST', '_emulator/config', { stream_chunk_delay: 0.25, stream_chunk_tokens: 2 });
  await emulator('DELETE', '_emulator/requests');
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  await runPaletteCommand(page, 'GreyCloud: Ask the Workspace…');
  await answerInput(page, 'Ask the Workspace', 'Where are quota errors retried? [[words=90]]');
  const dialog = page.locator('.monaco-dialog-box');
  await dialog.waitFor({ state: 'visible', timeout: TIMEOUT });
  seen.cachePlan = (await dialog.innerText()).slice(0, 1500);
  await shot('vscode-ask-plan.png');
  await dialog.locator('.monaco-button', { hasText: 'Cache and Ask' }).click();
  log('cache plan accepted');
  const answer1 = 'Ask the Workspace 1';
  await page.locator('.tab', { hasText: answer1 }).first().waitFor({ timeout: TIMEOUT });
  const answerLen = async (label) => {
    await failedToast(page);
    const t = await editorText(page, label).catch(() => '');
    return { text: t, chars: t.length, done: t.includes('---') && /tokens in/.test(t) };
  };
  const header = await waitFor('the answer view', async () => {
    const a = await answerLen(answer1);
    return a.chars > 0 ? a : null;
  });
  const first = await waitFor('the answer to start streaming', async () => {
    const a = await answerLen(answer1);
    return a.chars >= header.chars + 40 ? a : null;
  }, TIMEOUT, 50);
  await shot('vscode-stream-1.png');
  await new Promise((r) => setTimeout(r, 1500));
  const second = await answerLen(answer1);
  await shot('vscode-stream-2.png');
  seen.stream = { header: header.chars, first: first.chars, second: second.chars, firstDone: first.done, secondDone: second.done };
  log(`answer grew ${first.chars} -> ${second.chars} chars (done: ${first.done}/${second.done})`);
  const done1 = await waitFor('the first answer to finish', async () => {
    const a = await answerLen(answer1);
    return a.done ? a : null;
  });
  seen.answer1 = done1.text.slice(-600);
  seen.cacheItemFresh = await waitFor('the cache status item', () => cacheStatus(page), 20000);
  await shot('vscode-ask-answer.png');

  // 6. Ask again: the fresh cache is reused (no dialog, no new cache).
  await emulator('POST', '_emulator/config', { stream_chunk_delay: 0.02, stream_chunk_tokens: 4 });
  await page.locator('.tab', { hasText: 'notes.md' }).first().click();
  await runPaletteCommand(page, 'GreyCloud: Ask the Workspace…');
  await answerInput(page, 'Ask the Workspace', 'Which limiter slot is released most often? [[words=30]]');
  const answer2 = 'Ask the Workspace 2';
  await page.locator('.tab', { hasText: answer2 }).first().waitFor({ timeout: TIMEOUT });
  const done2 = await waitFor('the second answer to finish', async () => {
    if (await page.locator('.monaco-dialog-box').count()) throw new Error('a dialog asked again: the cache was not reused');
    const a = await answerLen(answer2);
    return a.done ? a : null;
  });
  seen.answer2 = done2.text.slice(-600);
  const requests = (await emulator('GET', '_emulator/requests')).requests;
  seen.emulator = {
    cacheCreates: requests.filter((r) => r.action === 'cachedContents.create').length,
    streams: requests
      .filter((r) => r.action === 'streamGenerateContent')
      .map((r) => ({ cachedContent: (r.body && (r.body.cachedContent || r.body.cached_content)) || null })),
  };
  log(`emulator: ${JSON.stringify(seen.emulator)}`);

  // 7. Generate… in insert mode: the text streams into notes.md; one Ctrl+Z removes all of it.
  await page.locator('.tab', { hasText: 'notes.md' }).first().click();
  const notes = 'notes.md';
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  const before = await settledText(page, notes);
  await emulator('POST', '_emulator/config', { stream_chunk_delay: 0.1, stream_chunk_tokens: 2 });
  await runPaletteCommand(page, 'GreyCloud: Generate…');
  await answerInput(page, 'GreyCloud: Generate', PROMPT);
  log('prompt sent');
  seen.insertMidStream = await waitFor('text to appear in the document while streaming', async () => {
    await failedToast(page);
    const t = await editorText(page, notes);
    return t.length > before.length + 20 ? { chars: t.length - before.length } : null;
  }, TIMEOUT, 50);
  await shot('vscode-insert-streaming.png');
  seen.doneMessage = await waitFor('the generation to finish', async () => {
    await failedToast(page);
    return (await statusText(page)).find((x) => x.startsWith('GreyCloud: Generate done')) || null;
  });
  log(seen.doneMessage);
  const inserted = await settledText(page, notes);
  seen.insertedChars = inserted.length - before.length;
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+Z');
  seen.afterUndo = await waitFor('one undo to remove the insertion', async () => {
    const t = await editorText(page, notes);
    return t.length < inserted.length ? { text: t } : null;
  }, 10000);
  seen.afterUndo.text = await settledText(page, notes);
  seen.undoRestored = seen.afterUndo.text === before;
  await shot('vscode-insert-undone.png');
  await page.keyboard.press('Control+Shift+Z');
  await waitFor('redo to bring the insertion back', async () => (await editorText(page, notes)) === inserted, 10000);

  // 8. Cancel from the progress notification stops the generation where it is.
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  const beforeCancel = (await settledText(page, notes)).length;
  await emulator('POST', '_emulator/config', { stream_chunk_delay: 0.3, stream_chunk_tokens: 2 });
  await runPaletteCommand(page, 'GreyCloud: Generate…');
  await answerInput(page, 'GreyCloud: Generate', 'Write a very long essay about rate limiters [[words=300]]');
  await waitFor('the long answer to start streaming', async () => {
    await failedToast(page);
    return (await editorText(page, notes)).length > beforeCancel + 20;
  }, TIMEOUT, 50);
  await page.locator('.notifications-toasts', { hasText: 'GreyCloud: Generate' }).locator('.monaco-button', { hasText: 'Cancel' }).first().click();
  const cancelClicked = Date.now();
  seen.cancelMessage = await waitFor('the generation to stop', async () =>
    (await statusText(page)).find((x) => x.startsWith('GreyCloud: Generate cancelled')) || null);
  const atCancel = (await settledText(page, notes)).length;
  await new Promise((r) => setTimeout(r, 1500));
  seen.cancel = {
    msToStop: Date.now() - cancelClicked,
    charsAtCancel: atCancel - beforeCancel,
    charsLater: (await settledText(page, notes)).length - beforeCancel,
  };
  log(`cancel: ${JSON.stringify(seen.cancel)}`);
  await shot('vscode-cancelled.png');

  // 9. Save: notes.md is in the cache, so the cache turns stale.
  await page.keyboard.press('Control+S');
  await page.locator('.tab.dirty', { hasText: 'notes.md' }).waitFor({ state: 'detached', timeout: TIMEOUT });
  seen.cacheItemStale = await waitFor('the cache status item to say stale', async () => {
    const c = await cacheStatus(page);
    return c && c.state === 'stale' ? c : null;
  }, 30000);
  seen.finalStatus = await tokenStatus(page);
  seen.visibleText = (await editorText(page, notes)).slice(0, 4000);
  await shot('vscode-generate.png');
  log('saved, screenshot taken');

  // 10. Ask with a stale cache: first ask the stale one, then refresh it.
  await emulator('POST', '_emulator/config', { stream_chunk_delay: 0, stream_chunk_tokens: 8 });
  await emulator('DELETE', '_emulator/requests');
  const askStale = async (n, button) => {
    await page.locator('.tab', { hasText: 'notes.md' }).first().click();
    await runPaletteCommand(page, 'GreyCloud: Ask the Workspace…');
    await answerInput(page, 'Ask the Workspace', `Stale question ${n} [[words=12]]`);
    const box = page.locator('.monaco-dialog-box', { hasText: 'is stale' });
    await box.waitFor({ state: 'visible', timeout: TIMEOUT });
    const dialogText = (await box.innerText()).slice(0, 600);
    await box.locator('.monaco-button', { hasText: button }).click();
    const label = `Ask the Workspace ${n}`;
    await page.locator('.tab', { hasText: label }).first().waitFor({ timeout: TIMEOUT });
    const done = await waitFor(`answer ${n} to finish`, async () => {
      const a = await answerLen(label);
      return a.done ? a : null;
    });
    return { dialog: dialogText, footer: done.text.slice(done.text.lastIndexOf('---')) };
  };
  seen.askStale = await askStale(3, 'Ask the Stale Cache');
  seen.askRefresh = await askStale(4, 'Refresh the Cache');
  seen.cacheItemRefreshed = await waitFor('the cache item to be fresh again', async () => {
    const c = await cacheStatus(page);
    return c && c.state === 'fresh' ? c : null;
  }, 30000);
  const later = (await emulator('GET', '_emulator/requests')).requests;
  seen.emulatorStale = {
    cacheCreates: later.filter((r) => r.action === 'cachedContents.create').length,
    cacheDeletes: later.filter((r) => r.method === 'DELETE' && /cachedContents\//.test(r.path)).length,
    streams: later
      .filter((r) => r.action === 'streamGenerateContent')
      .map((r) => ({ cachedContent: (r.body && (r.body.cachedContent || r.body.cached_content)) || null })),
  };
  log(`stale asks: ${JSON.stringify(seen.emulatorStale)}`);
  await shot('vscode-ask-refreshed.png');

  // 11. A code action from the server (Ctrl+.) streams its answer into the answer view.
  await page.locator('.tab', { hasText: 'notes.md' }).first().click();
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Shift+End');
  await page.keyboard.press('Control+.');
  const action = page.locator('.action-widget .monaco-list-row', { hasText: 'Gemini: Explain' }).first();
  await action.waitFor({ state: 'visible', timeout: TIMEOUT });
  await action.click();
  await page.locator('.tab', { hasText: 'Gemini explain' }).first().waitFor({ timeout: TIMEOUT });
  const explained = await waitFor('the code action answer to finish', async () => {
    const a = await answerLen('Gemini explain');
    return a.done ? a : null;
  });
  seen.codeAction = explained.text.slice(0, 1200);
  await shot('vscode-code-action.png');
});
