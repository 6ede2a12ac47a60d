// The answer view: a read-only markdown document beside the editor that fills
// chunk by chunk (a TextDocumentContentProvider under the `greycloud-answer` scheme).

import * as vscode from 'vscode';
import { usageLine } from './format';
import { GenerationSink } from './generation';
import { GenerateResult } from './protocol';

export const SCHEME = 'greycloud-answer';
/** At most this often the view re-reads its text while chunks arrive. */
const REFRESH_MS = 50;

export class AnswerView implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly registration: vscode.Disposable;
  private readonly closed: vscode.Disposable;
  private count = 0;
  readonly onDidChange = this.changed.event;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this);
    this.closed = vscode.workspace.onDidCloseTextDocument((doc) => {
      if (doc.uri.scheme === SCHEME) {
        this.texts.delete(doc.uri.toString());
      }
    });
  }

  dispose(): void {
    this.closed.dispose();
    this.registration.dispose();
    this.changed.dispose();
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  /** Open a new answer beside the active editor, headed by the question. */
  async open(title: string, question: string): Promise<GenerationSink> {
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${title} ${++this.count}.md` });
    const header = `**${title}:** ${question.replace(/\n/g, ' ')}\n\n`;
    this.texts.set(uri.toString(), header);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
    return new AnswerSink(header, (text) => {
      this.texts.set(uri.toString(), text);
      this.changed.fire(uri);
    });
  }
}

class AnswerSink implements GenerationSink {
  private body = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly header: string,
    private readonly publish: (text: string) => void,
  ) {}

  async append(text: string): Promise<void> {
    this.body += text;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.publish(this.header + this.body);
      }, REFRESH_MS);
    }
  }

  async finish(result: GenerateResult & { applied?: boolean | null }): Promise<void> {
    this.body = result.text;
    const applied =
      result.applied === true ? ' · applied to the document as one edit' : result.applied === false ? ' · the edit was not applied' : '';
    this.flush(`\n\n---\n_${usageLine(result)}${applied}_\n`);
  }

  async fail(message: string, partial: string): Promise<void> {
    this.body = partial;
    this.flush(`\n\n---\n_failed: ${message}_\n`);
  }

  private flush(footer: string): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.publish(this.header + this.body + footer);
  }
}
