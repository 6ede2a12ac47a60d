// Workspace caches this server made: their state (fresh/stale, expiry) and the
// status bar item showing the cache of the active folder, driven by greycloud/cacheStatus.

import * as vscode from 'vscode';
import { formatNumber, formatRemaining } from './format';
import { Log, errorMessage } from './log';
import { CacheInfo, CacheStatus, CacheWorkspaceResult, Commands, Notifications, OwnedCacheInfo } from './protocol';
import { Server } from './server';

export interface TrackedCache {
  name: string;
  displayName?: string;
  model?: string;
  tokens?: number;
  /** Folder uri the cache was made from; undefined when the server does not say. */
  folder?: string;
  expireMs?: number;
  stale: boolean;
  reason?: string;
  createdMs: number;
}

const TICK_MS = 15000;

/** A cache's `folder` (a path or a uri, as the server sends it) is `folder`; unknown matches any. */
export function sameFolder(field: string | null | undefined, folder: vscode.Uri): boolean {
  if (!field) {
    return true;
  }
  const trim = (s: string) => s.replace(/[\\/]+$/, '');
  return field.includes('://') ? trim(field) === trim(folder.toString()) : trim(field) === trim(folder.fsPath);
}

function expireMs(iso: string | null | undefined): number | undefined {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

export class CacheTracker implements vscode.Disposable {
  private readonly caches = new Map<string, TrackedCache>();
  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly server: Server,
    private readonly log: Log,
  ) {
    this.item = vscode.window.createStatusBarItem('greycloud.cache', vscode.StatusBarAlignment.Right, 99);
    this.item.name = 'GreyCloud Workspace Cache';
    this.item.command = 'greycloud.ui.askWorkspace';
    server.addSessionHook((client) => [
      client.onNotification(Notifications.cacheStatus, (p: CacheStatus) => this.onStatus(p)),
    ]);
    this.disposables.push(
      this.item,
      server.onDidChange(() => {
        this.caches.clear(); // a new server process owns no cache yet (no API call needed)
        this.render();
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.render()),
    );
    this.timer = setInterval(() => this.render(), TICK_MS);
  }

  dispose(): void {
    clearInterval(this.timer);
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  /** Caches of `folder` that have not expired, newest first. */
  forFolder(folder: vscode.Uri): TrackedCache[] {
    const now = Date.now();
    return [...this.caches.values()]
      .filter((c) => sameFolder(c.folder, folder) && (c.expireMs === undefined || c.expireMs > now))
      .sort((a, b) => (b.expireMs ?? 0) - (a.expireMs ?? 0) || b.createdMs - a.createdMs);
  }

  /** Re-read the server's caches (greycloud.listCaches); keeps only those it owns. */
  async refresh(): Promise<void> {
    let list: CacheInfo[];
    try {
      list = await this.server.execute<CacheInfo[]>(Commands.listCaches, {});
    } catch (err) {
      this.log.debug(`listCaches failed: ${errorMessage(err)}`);
      return;
    }
    const seen = new Set<string>();
    for (const c of list) {
      if (!c.ownedByServer) {
        continue;
      }
      seen.add(c.name);
      const prev = this.caches.get(c.name);
      this.caches.set(c.name, {
        name: c.name,
        displayName: c.displayName ?? prev?.displayName,
        model: c.model ?? prev?.model,
        tokens: c.tokens ?? prev?.tokens,
        folder: c.folder ?? prev?.folder,
        expireMs: expireMs(c.expireTime) ?? prev?.expireMs,
        stale: Boolean(c.stale) || Boolean(prev?.stale),
        reason: prev?.reason,
        createdMs: prev?.createdMs ?? Date.now(),
      });
    }
    for (const name of [...this.caches.keys()]) {
      if (!seen.has(name)) {
        this.caches.delete(name);
      }
    }
    this.render();
  }

  /** A cache greycloud.cacheWorkspace just made from `folder`. */
  created(result: CacheWorkspaceResult, folder: vscode.Uri): TrackedCache {
    const tracked: TrackedCache = {
      name: result.name,
      displayName: result.displayName ?? undefined,
      model: result.model,
      tokens: result.tokens ?? undefined,
      folder: folder.toString(),
      expireMs: expireMs(result.expireTime),
      stale: false,
      createdMs: Date.now(),
    };
    this.caches.set(result.name, tracked);
    this.render();
    return tracked;
  }

  forget(name: string): void {
    this.caches.delete(name);
    this.render();
  }

  /** Remember what greycloud.workspaceCacheState said about a cache. */
  seen(info: OwnedCacheInfo): TrackedCache {
    const prev = this.caches.get(info.name);
    const tracked: TrackedCache = {
      name: info.name,
      displayName: info.displayName ?? prev?.displayName,
      model: info.model ?? prev?.model,
      tokens: info.tokens ?? prev?.tokens,
      folder: info.folder ?? prev?.folder,
      expireMs:
        expireMs(info.expireTime) ??
        (typeof info.expiresInSeconds === 'number' ? Date.now() + info.expiresInSeconds * 1000 : prev?.expireMs),
      stale: info.stale,
      reason: info.staleReason || prev?.reason,
      createdMs: prev?.createdMs ?? Date.now(),
    };
    this.caches.set(info.name, tracked);
    this.render();
    return tracked;
  }

  private onStatus(p: CacheStatus): void {
    this.log.info(`cache ${p.name}: ${p.deleted ? 'deleted' : p.stale ? 'stale' : 'fresh'} ${p.reason ?? ''}`);
    if (p.deleted) {
      this.forget(p.name);
      return;
    }
    const prev = this.caches.get(p.name);
    this.caches.set(p.name, {
      name: p.name,
      displayName: p.displayName ?? prev?.displayName,
      model: prev?.model,
      tokens: p.tokens ?? prev?.tokens,
      folder: p.folder ?? prev?.folder,
      expireMs: expireMs(p.expireTime) ?? prev?.expireMs,
      stale: p.stale,
      reason: p.stale ? p.reason : undefined,
      createdMs: prev?.createdMs ?? Date.now(),
    });
    this.render();
    if (!prev && p.expireTime === undefined) {
      void this.refresh(); // an older server sends only {name, stale, reason}
    }
  }

  private activeFolder(): vscode.Uri | undefined {
    const doc = vscode.window.activeTextEditor?.document;
    const folder = (doc && vscode.workspace.getWorkspaceFolder(doc.uri)) ?? vscode.workspace.workspaceFolders?.[0];
    return folder?.uri;
  }

  private render(): void {
    const folder = this.activeFolder();
    const cache = folder ? this.forFolder(folder)[0] : undefined;
    if (!cache || !this.server.running) {
      this.item.hide();
      return;
    }
    const left = cache.expireMs !== undefined ? formatRemaining(cache.expireMs, Date.now()) : '?';
    const state = cache.stale ? 'stale' : 'fresh';
    this.item.text = `${cache.stale ? '$(warning)' : '$(database)'} cache ${state} · ${left}`;
    const tip = new vscode.MarkdownString(
      `**GreyCloud workspace cache** — ${state}${cache.stale && cache.reason ? ` (${cache.reason})` : ''}\n\n` +
        `${cache.displayName ?? cache.name}: ${formatNumber(cache.tokens)} tokens, ${cache.model ?? ''}, ` +
        `expires in ${left}.\n\nClick to ask the workspace.`,
    );
    this.item.tooltip = tip;
    this.item.accessibilityInformation = { label: `GreyCloud cache ${state}, expires in ${left}` };
    this.item.backgroundColor = cache.stale ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }
}
