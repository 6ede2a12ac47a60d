// Settings: which `greycloud.*` keys the extension reads itself, which go to the server.
//
// Every `greycloud.*` setting outside CLIENT_SECTIONS is a server setting, defined
// once in greycloud_lsp/settings.py; package.json declares them for the Settings UI
// and tests/editors/test_vscode_settings.py checks the two against each other.

import * as vscode from 'vscode';

export const SECTION = 'greycloud';
/** Sections read by the extension only; never sent to the server. */
export const CLIENT_SECTIONS = ['server', 'generate'] as const;

export type OutputMode = 'insert' | 'beside';

/** Drop client-only keys, nulls and empty strings, so the server sees only what the user set. */
export function serverSettings(value: unknown, top = true): unknown {
  if (Array.isArray(value)) {
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (top && (CLIENT_SECTIONS as readonly string[]).includes(k)) {
        continue;
      }
      const cleaned = serverSettings(v, false);
      if (cleaned !== undefined) {
        out[k] = cleaned;
      }
    }
    return Object.keys(out).length > 0 || top ? out : undefined;
  }
  if (value === null || value === undefined || value === '') {
    return undefined;
  }
  return value;
}

export function currentServerSettings(): Record<string, unknown> {
  const raw = JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION)));
  return serverSettings(raw) as Record<string, unknown>;
}

export interface ServerLaunch {
  command: string;
  args: string[];
}

/** The server command line from `greycloud.server.*`. */
export function serverLaunch(): ServerLaunch {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const python = cfg.get<string>('server.pythonPath', '').trim();
  const args: string[] = [];
  let command: string;
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
  return { command, args };
}

/** True when a change needs a new server process (its command line changed). */
export function affectsServerLaunch(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration(`${SECTION}.server`);
}

export interface GenerateSettings {
  output: OutputMode;
  includeDocument: boolean;
}

export function generateSettings(): GenerateSettings {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  return {
    output: cfg.get<OutputMode>('generate.output', 'insert') === 'beside' ? 'beside' : 'insert',
    includeDocument: cfg.get<boolean>('generate.includeDocument', false),
  };
}
