// GreyCloud for VS Code: a thin client for the greycloud-lsp language server.
//
// The server owns every feature; this extension starts it (server.ts), forwards
// the `greycloud.*` settings (settings.ts) and gives its commands a UI. Palette
// commands use their own ids (`greycloud.ui.*`): the language client registers
// the server's executeCommandProvider ids (`greycloud.generate`, ...) itself.

import * as vscode from 'vscode';
import { AnswerView } from './answerView';
import { AskWorkspace } from './ask';
import { registerCaches } from './caches';
import { CacheTracker } from './cacheStatus';
import { interceptCodeActions } from './codeActions';
import { CompletionStatus } from './completionStatus';
import { registerGenerate } from './generate';
import { Generations } from './generation';
import { createLog } from './log';
import { Server } from './server';
import { TokenStatus } from './tokenStatus';

/** Kept for `deactivate`, which must wait for the server to stop (it deletes its caches). */
let server: Server | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = createLog();
  server = new Server(log);
  const tokens = new TokenStatus(server, log);
  const caches = new CacheTracker(server, log);
  const generations = new Generations(server, log);
  const answers = new AnswerView();
  const ask = new AskWorkspace(server, log, caches, generations, answers);
  interceptCodeActions(server, generations, answers);
  context.subscriptions.push(
    log,
    server,
    tokens,
    new CompletionStatus(server, log),
    caches,
    generations,
    answers,
    ...registerGenerate(server, generations, answers),
    ...ask.register(),
    ...registerCaches(server, log, caches),
    vscode.commands.registerCommand('greycloud.ui.showLog', () => log.show()),
    vscode.commands.registerCommand('greycloud.ui.restartServer', () => server?.restart('restart command')),
  );
  await server.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
