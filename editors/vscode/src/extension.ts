// GreyCloud for VS Code: a thin client for the greycloud-lsp language server.
//
// The server owns every feature; this extension starts it, forwards the
// `greycloud.*` settings, and adds palette commands, a token-count status-bar
// item and the result handling for Generate. Palette commands use their own
// ids (`greycloud.ui.*`): the language client already registers the server's
// executeCommandProvider ids (`greycloud.generate`, ...) itself.

import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';

const SECTION = 'greycloud';
/** Settings read by the extension only; never sent to the server. */
const CLIENT_ONLY_KEYS = new Set(['server', 'generate']);

interface TokenCount {
  uri: string;
  version: number;
  tokens: number;
  exact: boolean;
  source: string;
}

interface GenerateResult {
  text: string;
  model?: string;
  finishReason?: string;
  cancelled?: boolean;
  usage?: { promptTokens?: number; outputTokens?: number; cachedTokens?: number; totalTokens?: number };
}

interface CacheInfo {
  name: string;
  displayName?: string;
  model?: string;
  tokens?: number;
  expireTime?: string;
  ownedByServer?: boolean;
  stale?: boolean;
}

let client: LanguageClient | undefined;
let log: vscode.LogOutputChannel;
let statusItem: vscode.StatusBarItem;
const counts = new Map<string, TokenCount>();

/** Drop client-only keys, nulls and empty strings, so the server sees only what the user set. */
export function serverSettings(value: unknown, top = true): unknown {
  if (Array.isArray(value)) {
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (top && CLIENT_ONLY_KEYS.has(k)) {
        continue;
      }
      const cleaned = serverSettings(v, false);
      if (cleaned === undefined) {
        continue;
      }
      out[k] = cleaned;
    }
    return Object.keys(out).length > 0 || top ? out : undefined;
  }
  if (value === null || value === undefined || value === '') {
    return undefined;
  }
  return value;
}

function currentServerSettings(): Record<string, unknown> {
  const raw = JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION)));
  return serverSettings(raw) as Record<string, unknown>;
}

function serverOptions(): ServerOptions {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const python = cfg.get<string>('server.pythonPath', '').trim();
  let command: string;
  const args: string[] = [];
  if (python) {
    command = python;
    args.push('-m', 'greycloud_lsp');
  } else {
    command = cfg.get<string>('server.command', 'greycloud-lsp').trim() || 'greycloud-lsp';
  }
  args.push(...cfg.get<string[]>('server.args', []));
  if (cfg.get<boolean>('server.emulator', false)) {
    args.push('--emulator');
  }
  const level = cfg.get<string>('server.logLevel', '');
  if (level) {
    args.push('--log-level', level);
  }
  const logFile = cfg.get<string>('server.logFile', '');
  if (logFile) {
    args.push('--log-file', logFile);
  }
  log.info(`server command: ${[command, ...args].join(' ')}`);
  return { command, args, transport: TransportKind.stdio };
}

function clientOptions(): LanguageClientOptions {
  return {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    outputChannel: log,
    initializationOptions: currentServerSettings(),
    synchronize: { configurationSection: SECTION },
    middleware: {
      workspace: {
        // Serve `workspace/configuration` without the client-only keys.
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) {
            return result;
          }
          return result.map((value, i) => {
            const section = params.items[i]?.section;
            return section === SECTION || section === undefined ? serverSettings(value) : value;
          });
        },
      },
    },
  };
}

// ---------------------------------------------------------------------------
// Status bar: live token count of the active editor
// ---------------------------------------------------------------------------

export function formatCount(c: { tokens: number; exact: boolean }): string {
  return `${c.exact ? '' : '~'}${c.tokens} tokens`;
}

function renderStatus(): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client || client.state !== State.Running) {
    statusItem.hide();
    return;
  }
  const c = counts.get(editor.document.uri.toString());
  if (!c) {
    statusItem.text = '$(loading~spin) tokens';
    statusItem.tooltip = 'GreyCloud: counting tokens…';
  } else {
    statusItem.text = `$(symbol-numeric) ${formatCount(c)}`;
    statusItem.tooltip = `GreyCloud: ${c.tokens} tokens (${c.exact ? 'exact' : 'estimate'}, ${c.source}) — click to recount`;
  }
  statusItem.accessibilityInformation = { label: `GreyCloud ${c ? formatCount(c) : 'counting tokens'}` };
  statusItem.show();
}

function onTokenCount(params: TokenCount): void {
  const prev = counts.get(params.uri);
  if (prev && params.version < prev.version) {
    return; // an older document version
  }
  counts.set(params.uri, params);
  if (vscode.window.activeTextEditor?.document.uri.toString() === params.uri) {
    renderStatus();
  }
}

async function refreshActiveCount(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  renderStatus();
  if (!editor || !client || client.state !== State.Running || counts.has(editor.document.uri.toString())) {
    return;
  }
  try {
    const res = await client.sendRequest<TokenCount | null>('greycloud/tokenCount', {
      textDocument: { uri: editor.document.uri.toString() },
    });
    if (res && typeof res.tokens === 'number') {
      onTokenCount({ ...res, uri: res.uri ?? editor.document.uri.toString(), version: res.version ?? 0 });
    }
  } catch (err) {
    log.debug(`greycloud/tokenCount request failed: ${String(err)}`);
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

async function runCommand<T>(command: string, arg: object, token?: vscode.CancellationToken): Promise<T> {
  if (!client || client.state !== State.Running) {
    throw new Error('the GreyCloud language server is not running (see "GreyCloud: Show Log")');
  }
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] }, token) as Promise<T>;
}

function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) {
    return String((err as { message: unknown }).message);
  }
  return String(err);
}

async function generate(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
  const prompt = await vscode.window.showInputBox({
    title: 'GreyCloud: Generate',
    prompt: selection ? 'Prompt (the selected text is sent with it)' : 'Prompt',
    placeHolder: 'e.g. Explain this code',
    ignoreFocusOut: true,
  });
  if (!prompt) {
    return;
  }
  const output = vscode.workspace.getConfiguration(SECTION).get<string>('generate.output', 'insert');
  const args: Record<string, unknown> = { prompt };
  if (editor) {
    args.textDocument = { uri: editor.document.uri.toString() };
    const c2p = client!.code2ProtocolConverter;
    if (selection) {
      args.range = c2p.asRange(selection);
    }
    if (output === 'insert') {
      // One server-side edit: replace the selection, or insert at the cursor.
      args.insert = selection ? 'replace' : 'after';
      if (!selection) {
        args.range = c2p.asRange(new vscode.Range(editor.selection.active, editor.selection.active));
      }
    }
  }
  log.info(`generate: ${JSON.stringify({ ...args, prompt: `${prompt.length} chars` })}`);
  try {
    // Progress (with its cancel button) comes from the server's work-done progress.
    const result = await runCommand<GenerateResult>('greycloud.generate', args);
    log.info(`generate result: ${JSON.stringify(result)}`);
    if (!editor || output === 'beside') {
      const doc = await vscode.workspace.openTextDocument({ content: result.text, language: 'markdown' });
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    }
    const usage = result.usage ?? {};
    vscode.window.setStatusBarMessage(
      `GreyCloud: ${result.cancelled ? 'cancelled' : 'done'} (${usage.outputTokens ?? '?'} tokens out, ${result.model ?? ''})`,
      8000,
    );
  } catch (err) {
    log.error(`generate failed: ${errorMessage(err)}`);
    vscode.window.showErrorMessage(`GreyCloud: Generate failed: ${errorMessage(err)}`);
  }
}

async function cacheWorkspace(): Promise<void> {
  const folder =
    (vscode.window.activeTextEditor && vscode.workspace.getWorkspaceFolder(vscode.window.activeTextEditor.document.uri)) ??
    vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    vscode.window.showWarningMessage('GreyCloud: open a folder to cache its files.');
    return;
  }
  try {
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'GreyCloud: caching workspace files', cancellable: true },
      (_p, token) =>
        runCommand<CacheInfo & { files?: string[]; skipped?: { path: string; reason: string }[] }>(
          'greycloud.cacheWorkspace',
          { folder: folder.uri.toString() },
          token,
        ),
    );
    log.info(`cacheWorkspace result: ${JSON.stringify(res)}`);
    vscode.window.showInformationMessage(
      `GreyCloud: cached ${res.files?.length ?? 0} files (${res.tokens} tokens) as ${res.displayName || res.name}, ` +
        `expires ${res.expireTime}${res.skipped?.length ? `; skipped ${res.skipped.length}` : ''}.`,
    );
  } catch (err) {
    log.error(`cacheWorkspace failed: ${errorMessage(err)}`);
    vscode.window.showErrorMessage(`GreyCloud: Cache Workspace Files failed: ${errorMessage(err)}`);
  }
}

async function listCaches(): Promise<void> {
  let caches: CacheInfo[];
  try {
    caches = await runCommand<CacheInfo[]>('greycloud.listCaches', {});
  } catch (err) {
    vscode.window.showErrorMessage(`GreyCloud: List Caches failed: ${errorMessage(err)}`);
    return;
  }
  if (!caches.length) {
    vscode.window.showInformationMessage('GreyCloud: no context caches.');
    return;
  }
  const picked = await vscode.window.showQuickPick(
    caches.map((c) => ({
      label: `${c.stale ? '$(warning) ' : ''}${c.displayName || c.name}`,
      description: `${c.tokens ?? '?'} tokens · ${c.model ?? ''}`,
      detail: `${c.name} · expires ${c.expireTime ?? '?'}${c.ownedByServer ? '' : ' · not created by this server'}${c.stale ? ' · stale' : ''}`,
      cache: c,
    })),
    { title: 'GreyCloud: Caches', placeHolder: 'Pick a cache to extend or delete' },
  );
  if (!picked) {
    return;
  }
  const action = await vscode.window.showQuickPick(['Extend TTL…', 'Delete'], { title: picked.label });
  try {
    if (action === 'Delete') {
      await runCommand('greycloud.deleteCache', { name: picked.cache.name });
      vscode.window.showInformationMessage(`GreyCloud: deleted ${picked.cache.displayName || picked.cache.name}.`);
    } else if (action === 'Extend TTL…') {
      const ttl = await vscode.window.showInputBox({
        title: 'New TTL in seconds',
        value: '3600',
        validateInput: (v) => (/^\d+$/.test(v) && Number(v) > 0 ? undefined : 'a positive whole number'),
      });
      if (!ttl) {
        return;
      }
      const res = await runCommand<{ name: string; expireTime: string }>('greycloud.extendCache', {
        name: picked.cache.name,
        ttlSeconds: Number(ttl),
      });
      vscode.window.showInformationMessage(`GreyCloud: ${picked.cache.displayName || res.name} now expires ${res.expireTime}.`);
    }
  } catch (err) {
    vscode.window.showErrorMessage(`GreyCloud: ${action} failed: ${errorMessage(err)}`);
  }
}

async function countTokens(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    vscode.window.showWarningMessage('GreyCloud: open a document to count its tokens.');
    return;
  }
  try {
    const res = await runCommand<{ tokens: number; exact: boolean; source: string }>('greycloud.countTokens', {
      textDocument: { uri: editor.document.uri.toString() },
    });
    const uri = editor.document.uri.toString();
    onTokenCount({ uri, version: editor.document.version, ...res });
    vscode.window.showInformationMessage(
      `GreyCloud: ${res.tokens} tokens (${res.exact ? 'exact' : 'estimate'}, ${res.source}).`,
    );
  } catch (err) {
    vscode.window.showErrorMessage(`GreyCloud: Count Tokens failed: ${errorMessage(err)}`);
  }
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  client = new LanguageClient('greycloud', 'GreyCloud', serverOptions(), clientOptions());
  context.subscriptions.push(
    client.onNotification('greycloud/tokenCount', onTokenCount),
    client.onNotification('greycloud/cacheStatus', (p: { name: string; stale: boolean; reason?: string }) => {
      log.info(`cache ${p.name}: ${p.stale ? 'stale' : 'fresh'} ${p.reason ?? ''}`);
      if (p.stale) {
        vscode.window.showWarningMessage(`GreyCloud: cache ${p.name} is stale (${p.reason ?? 'files changed'}).`);
      }
    }),
    client.onDidChangeState(() => renderStatus()),
  );
  try {
    await client.start();
    log.info(`server started: ${JSON.stringify(client.initializeResult?.serverInfo ?? {})}`);
  } catch (err) {
    log.error(`could not start the server: ${errorMessage(err)}`);
    vscode.window
      .showErrorMessage(`GreyCloud: could not start greycloud-lsp: ${errorMessage(err)}`, 'Show Log')
      .then((a) => a && log.show());
  }
  await refreshActiveCount();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  log = vscode.window.createOutputChannel('GreyCloud', { log: true });
  statusItem = vscode.window.createStatusBarItem('greycloud.tokens', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'GreyCloud Tokens';
  statusItem.command = 'greycloud.ui.countTokens';
  context.subscriptions.push(
    log,
    statusItem,
    vscode.commands.registerCommand('greycloud.ui.generate', generate),
    vscode.commands.registerCommand('greycloud.ui.cacheWorkspace', cacheWorkspace),
    vscode.commands.registerCommand('greycloud.ui.listCaches', listCaches),
    vscode.commands.registerCommand('greycloud.ui.countTokens', countTokens),
    vscode.commands.registerCommand('greycloud.ui.showLog', () => log.show()),
    vscode.commands.registerCommand('greycloud.ui.restartServer', async () => {
      await client?.stop();
      counts.clear();
      await startClient(context);
    }),
    vscode.window.onDidChangeActiveTextEditor(() => void refreshActiveCount()),
    vscode.workspace.onDidCloseTextDocument((d) => counts.delete(d.uri.toString())),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration(`${SECTION}.server`)) {
        const choice = await vscode.window.showInformationMessage(
          'GreyCloud: server settings changed.',
          'Restart Language Server',
        );
        if (choice) {
          await vscode.commands.executeCommand('greycloud.ui.restartServer');
        }
      }
    }),
  );
  await startClient(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
