// GreyCloud: Cache Workspace Files and GreyCloud: List Caches… (extend or delete).

import * as vscode from 'vscode';
import { CacheTracker } from './cacheStatus';
import { Log, errorMessage } from './log';
import { CacheInfo, CacheWorkspaceResult, Commands } from './protocol';
import { Server } from './server';

function activeFolder(): vscode.WorkspaceFolder | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  return (doc && vscode.workspace.getWorkspaceFolder(doc.uri)) ?? vscode.workspace.workspaceFolders?.[0];
}

async function cacheWorkspace(server: Server, log: Log, tracker: CacheTracker): Promise<void> {
  const folder = activeFolder();
  if (!folder) {
    vscode.window.showWarningMessage('GreyCloud: open a folder to cache its files.');
    return;
  }
  try {
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'GreyCloud: caching workspace files', cancellable: true },
      (_p, token) => server.execute<CacheWorkspaceResult>(Commands.cacheWorkspace, { folder: folder.uri.toString() }, { token }),
    );
    log.info(`cacheWorkspace result: ${JSON.stringify(res)}`);
    tracker.created(res, folder.uri);
    vscode.window.showInformationMessage(
      `GreyCloud: cached ${res.files?.length ?? 0} files (${res.tokens} tokens) as ${res.displayName || res.name}, ` +
        `expires ${res.expireTime}${res.skipped?.length ? `; skipped ${res.skipped.length}` : ''}.`,
    );
  } catch (err) {
    log.error(`cacheWorkspace failed: ${errorMessage(err)}`);
    vscode.window.showErrorMessage(`GreyCloud: Cache Workspace Files failed: ${errorMessage(err)}`);
  }
}

async function listCaches(server: Server, tracker: CacheTracker): Promise<void> {
  let caches: CacheInfo[];
  try {
    caches = await server.execute<CacheInfo[]>(Commands.listCaches, {});
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
      await server.execute(Commands.deleteCache, { name: picked.cache.name });
      tracker.forget(picked.cache.name);
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
      const res = await server.execute<{ name: string; expireTime: string }>(Commands.extendCache, {
        name: picked.cache.name,
        ttlSeconds: Number(ttl),
      });
      await tracker.refresh();
      vscode.window.showInformationMessage(`GreyCloud: ${picked.cache.displayName || res.name} now expires ${res.expireTime}.`);
    }
  } catch (err) {
    vscode.window.showErrorMessage(`GreyCloud: ${action} failed: ${errorMessage(err)}`);
  }
}

export function registerCaches(server: Server, log: Log, tracker: CacheTracker): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('greycloud.ui.cacheWorkspace', () => cacheWorkspace(server, log, tracker)),
    vscode.commands.registerCommand('greycloud.ui.listCaches', () => listCaches(server, tracker)),
  ];
}
