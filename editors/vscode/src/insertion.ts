// Insert mode: the answer appears in the document as it streams, and the whole
// insertion is ONE undo step. Every streamed edit is made without undo stops
// (so the editor folds them into one undo element), with a stop before the first
// and after the last (a cursor move by the user in between starts a new step, as
// VS Code does for every edit). If the editor is no longer visible, the rest is
// applied as a workspace edit.

import * as vscode from 'vscode';
import { GenerationSink } from './generation';
import { Log } from './log';
import { GenerateResult } from './protocol';

export class InsertionSink implements GenerationSink, vscode.Disposable {
  /** Offset where the insertion starts, and how much of it is in the document now. */
  private start: number;
  private length = 0;
  private replaceLength: number;
  private ownEdit = false;
  private first = true;
  private readonly listener: vscode.Disposable;

  constructor(
    private readonly editor: vscode.TextEditor,
    range: vscode.Range,
    private readonly log?: Log,
  ) {
    const doc = editor.document;
    this.start = doc.offsetAt(range.start);
    this.replaceLength = doc.offsetAt(range.end) - this.start;
    // Someone else's edit before the insertion moves it.
    this.listener = vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document !== doc || this.ownEdit) {
        return;
      }
      for (const change of e.contentChanges) {
        if (change.rangeOffset + change.rangeLength <= this.start) {
          this.start += change.text.length - change.rangeLength;
        }
      }
    });
  }

  dispose(): void {
    this.listener.dispose();
  }

  async append(text: string): Promise<void> {
    await this.replaceInserted(this.length, text, false);
  }

  async finish(result: GenerateResult): Promise<void> {
    try {
      const doc = this.editor.document;
      const now = doc.getText(new vscode.Range(doc.positionAt(this.start), doc.positionAt(this.start + this.length)));
      if (now !== result.text && (result.text || !this.first)) {
        await this.replaceInserted(0, result.text, true); // lost chunks: the result is the truth
      } else if (!this.first) {
        await this.edit(undefined, '', true); // close the undo step
      }
    } finally {
      this.dispose();
    }
  }

  async fail(_message: string, _partial: string): Promise<void> {
    if (!this.first) {
      await this.edit(undefined, '', true); // keep what arrived; close the undo step
    }
    this.dispose();
  }

  /** Replace the inserted text from `from` on (plus the selection, first time) with `text`. */
  private async replaceInserted(from: number, text: string, last: boolean): Promise<void> {
    const doc = this.editor.document;
    const startOffset = this.start + from;
    const endOffset = this.start + this.length + this.replaceLength;
    const range = new vscode.Range(doc.positionAt(startOffset), doc.positionAt(endOffset));
    await this.edit(range, text, last);
    this.length = from + text.length;
    this.replaceLength = 0;
  }

  private async edit(range: vscode.Range | undefined, text: string, last: boolean): Promise<void> {
    const options = { undoStopBefore: this.first, undoStopAfter: last };
    const doc = this.editor.document;
    // The same editor may come back as another TextEditor object: find it by its document.
    const visible = vscode.window.visibleTextEditors;
    const editor = visible.includes(this.editor) ? this.editor : visible.find((e) => e.document === doc);
    this.ownEdit = true;
    try {
      if (editor) {
        // An empty insert still reaches the editor (no edit at all would skip the undo stop).
        const end = doc.positionAt(this.start + this.length);
        const applied = await editor.edit((b) => (range ? b.replace(range, text) : b.insert(end, '')), options);
        this.log?.trace(`insert: ${text.length} chars, ${JSON.stringify(options)}, applied: ${applied}`);
        if (!applied && range) {
          throw new Error('the editor refused the edit');
        }
      } else if (range) {
        this.log?.trace(`insert: ${text.length} chars as a workspace edit (the editor is hidden)`);
        // The editor was closed or hidden: continue in the document (its own undo steps).
        const edit = new vscode.WorkspaceEdit();
        edit.replace(doc.uri, range, text);
        await vscode.workspace.applyEdit(edit);
      }
      this.first = false;
    } finally {
      this.ownEdit = false;
    }
  }
}
