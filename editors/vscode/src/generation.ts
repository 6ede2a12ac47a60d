// One streamed greycloud.generate: the client picks the progress token
// (`workDoneToken`), routes greycloud/generationChunk by it into a sink (the
// answer view or the document), and cancels with window/workDoneProgress/cancel.

import * as vscode from 'vscode';
import { LanguageClient, WorkDoneProgress, WorkDoneProgressCancelNotification } from 'vscode-languageclient/node';
import { usageLine } from './format';
import { Log, errorMessage } from './log';
import { Commands, GenerateResult, GenerationChunk, Notifications } from './protocol';
import { Server } from './server';

/** Where the streamed text goes. Calls come one at a time, in order. */
export interface GenerationSink {
  append(text: string): Promise<void>;
  /** The final text (equal to what was appended unless chunks were lost). */
  finish(result: GenerateResult): Promise<void>;
  fail(message: string, partial: string): Promise<void>;
}

interface Run {
  token: string;
  /** A token the server chose itself (servers that ignore workDoneToken). */
  serverToken?: string;
  next: number;
  early: Map<number, string>;
  text: string;
  writing: Promise<void>;
  sink: GenerationSink;
}

let counter = 0;

export class Generations implements vscode.Disposable {
  private readonly runs = new Map<string, Run>();
  private message: vscode.Disposable | undefined;

  constructor(
    private readonly server: Server,
    readonly log: Log,
  ) {
    server.addSessionHook((client) => [
      client.onNotification(Notifications.generationChunk, (p: GenerationChunk) => this.onChunk(p)),
    ]);
  }

  dispose(): void {
    this.runs.clear();
    this.message?.dispose();
  }

  /** Run greycloud.generate with `args`, streaming into `sink`; undefined when it failed. */
  async run(
    args: Record<string, unknown>,
    sink: GenerationSink,
    title: string,
    options: { staleCache?: boolean; command?: string } = {},
  ): Promise<GenerateResult | undefined> {
    const client = this.server.running;
    if (!client) {
      vscode.window.showErrorMessage('GreyCloud: the language server is not running (see "GreyCloud: Show Log").');
      return undefined;
    }
    const run: Run = {
      token: `vscode-generate-${process.pid}-${++counter}`,
      next: 0,
      early: new Map(),
      text: '',
      writing: Promise.resolve(),
      sink,
    };
    this.runs.set(run.token, run);
    const shown = typeof args.prompt === 'string' ? { ...args, prompt: `${args.prompt.length} chars` } : args;
    this.log.info(`${options.command ?? Commands.generate} ${run.token}: ${JSON.stringify(shown)}`);
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `GreyCloud: ${title}`, cancellable: true },
        async (progress, cancel) => {
          const subs = [
            client.onProgress(WorkDoneProgress.type, run.token, (v) => {
              if (v.kind !== 'end' && v.message) {
                progress.report({ message: v.message });
              }
            }),
            cancel.onCancellationRequested(() => this.cancel(client, run)),
          ];
          try {
            return await this.server.execute<GenerateResult>(options.command ?? Commands.generate, args, {
              workDoneToken: run.token,
            });
          } finally {
            subs.forEach((s) => s.dispose());
          }
        },
      );
      this.log.info(`generate result: ${JSON.stringify(result)}`);
      if (options.staleCache) {
        result.cacheStale = true; // the person chose to ask a cache they were told is stale
      }
      await run.writing;
      await sink.finish(result);
      this.message?.dispose();
      this.message = vscode.window.setStatusBarMessage(
        `GreyCloud: ${title} ${result.cancelled ? 'cancelled' : 'done'} (${usageLine({ ...result, cancelled: false })})`,
        15000,
      );
      return result;
    } catch (err) {
      const partial = (err as { data?: { partialText?: string } })?.data?.partialText ?? run.text;
      this.log.error(`generate failed: ${errorMessage(err)}`);
      await run.writing;
      await sink.fail(errorMessage(err), partial);
      vscode.window.showErrorMessage(`GreyCloud: ${title} failed: ${errorMessage(err)}`);
      return undefined;
    } finally {
      this.runs.delete(run.token);
    }
  }

  private cancel(client: LanguageClient, run: Run): void {
    this.log.info(`generate ${run.token}: cancel`);
    for (const token of [run.token, run.serverToken]) {
      if (token !== undefined) {
        void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
      }
    }
  }

  private runFor(token: string): Run | undefined {
    const run = this.runs.get(token);
    if (run) {
      return run;
    }
    for (const r of this.runs.values()) {
      if (r.serverToken === token) {
        return r;
      }
    }
    // A server that ignores workDoneToken names its own token: adopt it when unambiguous.
    const waiting = [...this.runs.values()].filter((r) => r.serverToken === undefined && r.next === 0);
    if (waiting.length === 1 && this.runs.size === 1) {
      waiting[0].serverToken = token;
      return waiting[0];
    }
    return undefined;
  }

  private onChunk(p: GenerationChunk): void {
    const run = this.runFor(String(p.token));
    if (!run) {
      return;
    }
    run.early.set(p.index, p.text);
    while (run.early.has(run.next)) {
      const text = run.early.get(run.next)!;
      run.early.delete(run.next);
      run.next += 1;
      run.text += text;
      run.writing = run.writing.then(() => run.sink.append(text)).catch((err) => {
        this.log.warn(`showing a chunk failed: ${errorMessage(err)}`);
      });
    }
  }
}
