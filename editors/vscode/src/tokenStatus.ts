// Status bar: the live token count of the active editor (greycloud/tokenCount).

import * as vscode from 'vscode';
import { Log, errorMessage } from './log';
import { Commands, Notifications, TokenCount } from './protocol';
import { Server } from './server';

export function formatCount(c: { tokens: number; exact: boolean }): string {
  return `${c.exact ? '' : '~'}${c.tokens} tokens`;
}

export class TokenStatus implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly counts = new Map<string, TokenCount>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly server: Server,
    private readonly log: Log,
  ) {
    this.item = vscode.window.createStatusBarItem('greycloud.tokens', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'GreyCloud Tokens';
    this.item.command = 'greycloud.ui.countTokens';
    server.addSessionHook((client) => [
      client.onNotification(Notifications.tokenCount, (p: TokenCount) => this.update(p)),
    ]);
    this.disposables.push(
      this.item,
      server.onDidChange(() => {
        this.counts.clear();
        void this.refresh();
      }),
      vscode.window.onDidChangeActiveTextEditor(() => void this.refresh()),
      vscode.workspace.onDidCloseTextDocument((d) => this.counts.delete(d.uri.toString())),
      vscode.commands.registerCommand('greycloud.ui.countTokens', () => this.countNow()),
    );
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  private update(params: TokenCount): void {
    const prev = this.counts.get(params.uri);
    if (prev && params.version < prev.version) {
      return; // an older document version
    }
    this.counts.set(params.uri, params);
    if (vscode.window.activeTextEditor?.document.uri.toString() === params.uri) {
      this.render();
    }
  }

  private render(): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !this.server.running) {
      this.item.hide();
      return;
    }
    const c = this.counts.get(editor.document.uri.toString());
    if (!c) {
      this.item.text = '$(loading~spin) tokens';
      this.item.tooltip = 'GreyCloud: counting tokens…';
    } else {
      this.item.text = `$(symbol-numeric) ${formatCount(c)}`;
      this.item.tooltip = `GreyCloud: ${c.tokens} tokens (${c.exact ? 'exact' : 'estimate'}, ${c.source}) — click to recount`;
    }
    this.item.accessibilityInformation = { label: `GreyCloud ${c ? formatCount(c) : 'counting tokens'}` };
    this.item.show();
  }

  private async refresh(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const client = this.server.running;
    this.render();
    if (!editor || !client || this.counts.has(editor.document.uri.toString())) {
      return;
    }
    const uri = editor.document.uri.toString();
    try {
      const res = await client.sendRequest<TokenCount | null>(Notifications.tokenCount, { textDocument: { uri } });
      if (res && typeof res.tokens === 'number') {
        this.update({ ...res, uri: res.uri ?? uri, version: res.version ?? 0 });
      }
    } catch (err) {
      this.log.debug(`greycloud/tokenCount request failed: ${errorMessage(err)}`);
    }
  }

  private async countNow(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      vscode.window.showWarningMessage('GreyCloud: open a document to count its tokens.');
      return;
    }
    try {
      const uri = editor.document.uri.toString();
      const res = await this.server.execute<{ tokens: number; exact: boolean; source: string }>(Commands.countTokens, {
        textDocument: { uri },
      });
      this.update({ uri, version: editor.document.version, ...res });
      vscode.window.showInformationMessage(`GreyCloud: ${res.tokens} tokens (${res.exact ? 'exact' : 'estimate'}, ${res.source}).`);
    } catch (err) {
      vscode.window.showErrorMessage(`GreyCloud: Count Tokens failed: ${errorMessage(err)}`);
    }
  }
}
