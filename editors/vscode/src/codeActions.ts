// The server's code actions (lightbulb, Ctrl+.) run with a progress token the
// extension chose, so their answer streams into the answer view: prose actions
// (Explain, Ask the workspace) show it there; edit actions preview it there while
// the server applies the finished text as one edit.

import * as vscode from 'vscode';
import { AnswerView } from './answerView';
import { Generations } from './generation';
import { Commands } from './protocol';
import { Server } from './server';

interface ActionArgs {
  id?: string;
  textDocument?: { uri?: string };
}

export function interceptCodeActions(server: Server, generations: Generations, answers: AnswerView): void {
  server.interceptCommand(Commands.runCodeAction, async (args) => {
    const arg = (args[0] ?? {}) as ActionArgs;
    const file = arg.textDocument?.uri ? vscode.workspace.asRelativePath(vscode.Uri.parse(arg.textDocument.uri)) : '';
    const title = `Gemini ${arg.id ?? 'action'}`;
    const sink = await answers.open(title, file);
    return generations.run(arg as Record<string, unknown>, sink, title, { command: Commands.runCodeAction });
  });
}
