// Inline completions: the language client shows the server's suggestions as ghost
// text by itself (textDocument/inlineCompletion; Tab accepts, Ctrl+Right accepts a
// word). This adds the status bar toggle and its command.

import * as vscode from 'vscode';
import { Log, errorMessage } from './log';
import { Commands } from './protocol';
import { SECTION } from './settings';
import { Server } from './server';

const ENABLED = 'completion.enabled';

export interface CompletionStats {
  requests?: number;
  upstream?: number;
  shown?: number;
  accepted?: number;
  dropped?: number;
  reused?: number;
}

/** On unless set to false (the setting's default, null, leaves it to the server: on). */
export function completionsEnabled(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean | null>(ENABLED) !== false;
}

export class CompletionStatus implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly server: Server,
    private readonly log: Log,
  ) {
    this.item = vscode.window.createStatusBarItem('greycloud.completion', vscode.StatusBarAlignment.Right, 99);
    this.item.name = 'GreyCloud Completions';
    this.item.command = 'greycloud.ui.toggleCompletions';
    this.disposables.push(
      this.item,
      vscode.commands.registerCommand('greycloud.ui.toggleCompletions', () => this.toggle()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`${SECTION}.${ENABLED}`)) {
          this.render();
        }
      }),
      server.onDidChange(() => this.render()),
    );
    this.render();
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  /** Flip `greycloud.completion.enabled` where it is set (else in the user's settings). */
  async toggle(): Promise<void> {
    const cfg = vscode.workspace.getConfiguration(SECTION);
    const inspect = cfg.inspect<boolean>(ENABLED);
    const target =
      inspect?.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : inspect?.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await cfg.update(ENABLED, !completionsEnabled(), target);
    this.render();
  }

  private render(): void {
    const on = completionsEnabled();
    this.item.text = on ? '$(sparkle) GreyCloud' : '$(circle-slash) GreyCloud';
    this.item.accessibilityInformation = { label: `GreyCloud inline completions ${on ? 'on' : 'off'}` };
    this.item.tooltip = `GreyCloud inline completions: ${on ? 'on' : 'off'} — click to turn ${on ? 'off' : 'on'}`;
    this.item.show();
    if (on && this.server.running) {
      void this.describe();
    }
  }

  /** Add the session's counts to the tooltip (greycloud.completionStats). */
  private async describe(): Promise<void> {
    try {
      const s = await this.server.execute<CompletionStats>(Commands.completionStats, {});
      this.item.tooltip =
        `GreyCloud inline completions: on — click to turn off\n` +
        `${s.shown ?? 0} shown, ${s.accepted ?? 0} accepted, ${s.upstream ?? 0} model requests for ${s.requests ?? 0} asks`;
    } catch (err) {
      this.log.debug(`greycloud.completionStats failed: ${errorMessage(err)}`);
    }
  }
}
