// GreyCloud: Ask the Workspace… — a question against the newest fresh workspace
// cache of this folder; makes the cache first (after saying what it will cost),
// offers to refresh a stale one. The answer streams into the answer view.

import * as vscode from 'vscode';
import { AnswerView } from './answerView';
import { CacheTracker, TrackedCache } from './cacheStatus';
import { formatNumber, isCacheable, planSummary } from './format';
import { runGenerate } from './generate';
import { Generations } from './generation';
import { Log, errorMessage } from './log';
import { CachePlan, CacheWorkspaceResult, Commands, WorkspaceCacheState } from './protocol';
import { Server } from './server';

const TITLE = 'Ask the Workspace';

export class AskWorkspace {
  constructor(
    private readonly server: Server,
    private readonly log: Log,
    private readonly caches: CacheTracker,
    private readonly generations: Generations,
    private readonly answers: AnswerView,
  ) {}

  register(): vscode.Disposable[] {
    return [vscode.commands.registerCommand('greycloud.ui.askWorkspace', (question?: string) => this.ask(question))];
  }

  async ask(question?: string): Promise<void> {
    if (!this.server.running) {
      vscode.window.showErrorMessage('GreyCloud: the language server is not running (see "GreyCloud: Show Log").');
      return;
    }
    const editor = vscode.window.activeTextEditor;
    const folder =
      (editor && vscode.workspace.getWorkspaceFolder(editor.document.uri)) ?? vscode.workspace.workspaceFolders?.[0];
    if (!folder) {
      vscode.window.showWarningMessage('GreyCloud: open a folder to ask questions about its files.');
      return;
    }
    const selection = editor && !editor.selection.isEmpty;
    question ??= await vscode.window.showInputBox({
      title: `GreyCloud: ${TITLE} (${folder.name})`,
      prompt: selection ? 'Question (the selected text is sent with it)' : 'Question about the files of this folder',
      placeHolder: 'e.g. Where are quota errors retried?',
      ignoreFocusOut: true,
    });
    if (!question) {
      return;
    }
    const cache = await this.chooseCache(folder);
    if (!cache) {
      return;
    }
    this.log.info(`ask the workspace: cache ${cache.name}${cache.stale ? ' (stale)' : ''}`);
    await runGenerate(this.server, this.generations, this.answers, {
      title: TITLE,
      prompt: question,
      editor,
      includeDocument: false,
      insert: false,
      cachedContent: cache.name,
      staleCache: cache.stale,
    });
  }

  /** The cache to ask: the newest fresh one, else (after asking) a new, refreshed or the stale one. */
  private async chooseCache(folder: vscode.WorkspaceFolder): Promise<TrackedCache | undefined> {
    const current = await this.currentCache(folder);
    if (current && !current.stale) {
      return current;
    }
    if (current) {
      const refresh = 'Refresh the Cache';
      const keep = 'Ask the Stale Cache';
      const choice = await vscode.window.showWarningMessage(
        `GreyCloud: the workspace cache of ${folder.name} is stale${current.reason ? ` (${current.reason})` : ''}.`,
        {
          modal: true,
          detail:
            'Refresh uploads the files again and deletes the stale cache; the stale cache answers from the files as they were when it was made.',
        },
        refresh,
        keep,
      );
      if (choice === keep) {
        return current;
      }
      return choice === refresh ? this.create(folder, true) : undefined;
    }
    if (!(await this.confirmNew(folder))) {
      return undefined;
    }
    return this.create(folder, false);
  }

  /** The server's choice (greycloud.workspaceCacheState); older servers: the newest cache listed. */
  private async currentCache(folder: vscode.WorkspaceFolder): Promise<TrackedCache | undefined> {
    try {
      const state = await this.server.execute<WorkspaceCacheState>(Commands.workspaceCacheState, {
        folder: folder.uri.toString(),
      });
      this.log.info(`workspace cache state: ${state.state}${state.cache ? ` ${state.cache.name}` : ''}`);
      return state.cache ? this.caches.seen(state.cache) : undefined;
    } catch (err) {
      this.log.debug(`workspaceCacheState unavailable: ${errorMessage(err)}`);
    }
    await this.caches.refresh();
    const candidates = this.caches.forFolder(folder.uri);
    return candidates.find((c) => !c.stale) ?? candidates[0];
  }

  /** Say what will be cached and what it costs; true when the person agrees. */
  private async confirmNew(folder: vscode.WorkspaceFolder): Promise<boolean> {
    let plan: CachePlan | undefined;
    try {
      plan = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `GreyCloud: reading ${folder.name}…` },
        () => this.server.execute<CachePlan>(Commands.cacheWorkspace, { folder: folder.uri.toString(), dryRun: true }),
      );
      if (!Array.isArray(plan?.files) || typeof plan?.tokens !== 'number') {
        plan = undefined; // an older server ignored dryRun and made a cache: treat as no plan
      }
    } catch (err) {
      this.log.warn(`cache plan failed: ${errorMessage(err)}`);
    }
    const go = 'Cache and Ask';
    let message: string;
    let detail: string;
    if (plan) {
      this.log.info(`cache plan: ${JSON.stringify({ ...plan, files: plan.files.length, skipped: plan.skipped?.length })}`);
      ({ message, detail } = planSummary(plan, folder.name));
      if (!isCacheable(plan)) {
        await vscode.window.showWarningMessage(`GreyCloud: ${message}`, { modal: true, detail });
        return false;
      }
    } else {
      message = `Cache the files of ${folder.name} to ask questions against them?`;
      detail = 'The server did not say how big the cache will be; storage is billed per hour while it lives.';
    }
    return (await vscode.window.showInformationMessage(`GreyCloud: ${message}`, { modal: true, detail }, go)) === go;
  }

  private async create(folder: vscode.WorkspaceFolder, refresh: boolean): Promise<TrackedCache | undefined> {
    try {
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `GreyCloud: caching ${folder.name}`, cancellable: true },
        (_p, token) =>
          this.server.execute<CacheWorkspaceResult>(
            Commands.cacheWorkspace,
            { folder: folder.uri.toString(), ...(refresh ? { refresh: true } : {}) },
            { token },
          ),
      );
      this.log.info(`cacheWorkspace result: ${JSON.stringify({ ...res, files: res.files.length })}`);
      vscode.window.setStatusBarMessage(
        `GreyCloud: cached ${res.files.length} files (${formatNumber(res.tokens)} tokens) of ${folder.name}`,
        10000,
      );
      const made = this.caches.created(res, folder.uri);
      if (refresh) {
        await this.caches.refresh(); // the server deleted the stale cache
      }
      return made;
    } catch (err) {
      this.log.error(`cacheWorkspace failed: ${errorMessage(err)}`);
      vscode.window.showErrorMessage(`GreyCloud: caching ${folder.name} failed: ${errorMessage(err)}`);
      return undefined;
    }
  }
}
