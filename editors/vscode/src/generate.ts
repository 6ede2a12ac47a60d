// GreyCloud: Generate… and GreyCloud: Generate with This File…

import * as vscode from 'vscode';
import { AnswerView } from './answerView';
import { GenerationSink, Generations } from './generation';
import { InsertionSink } from './insertion';
import { Server } from './server';
import { generateSettings } from './settings';

export interface GenerateRequest {
  title: string;
  prompt: string;
  editor?: vscode.TextEditor;
  /** Send the whole document (else only the selection, if any). */
  includeDocument: boolean;
  /** Insert into the editor (else the answer view). */
  insert: boolean;
  cachedContent?: string;
  /** The cache is known to be stale (the answer says so). */
  staleCache?: boolean;
}

/** Build the greycloud.generate arguments, pick the sink, run it. */
export async function runGenerate(
  server: Server,
  generations: Generations,
  answers: AnswerView,
  req: GenerateRequest,
): Promise<ReturnType<Generations['run']>> {
  const editor = req.editor;
  const selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
  const args: Record<string, unknown> = { prompt: req.prompt, insert: 'none' };
  if (editor) {
    args.textDocument = { uri: editor.document.uri.toString() };
    if (req.includeDocument) {
      args.includeDocument = true;
    } else if (selection) {
      args.range = server.running!.code2ProtocolConverter.asRange(selection);
    }
  }
  if (req.cachedContent) {
    args.cachedContent = req.cachedContent;
  }
  let sink: GenerationSink;
  if (req.insert && editor) {
    sink = new InsertionSink(
      editor,
      selection ?? new vscode.Range(editor.selection.active, editor.selection.active),
      generations.log,
    );
  } else {
    sink = await answers.open(req.title, req.prompt);
  }
  return generations.run(args, sink, req.title, { staleCache: req.staleCache });
}

async function generate(server: Server, generations: Generations, answers: AnswerView, withFile: boolean): Promise<void> {
  if (!server.running) {
    vscode.window.showErrorMessage('GreyCloud: the language server is not running (see "GreyCloud: Show Log").');
    return;
  }
  const editor = vscode.window.activeTextEditor;
  const settings = generateSettings();
  const includeDocument = Boolean(editor) && (withFile || settings.includeDocument);
  const selection = editor && !editor.selection.isEmpty;
  const title = includeDocument ? 'Generate with This File' : 'Generate';
  const prompt = await vscode.window.showInputBox({
    title: `GreyCloud: ${title}`,
    prompt: includeDocument
      ? `Prompt (the whole of ${vscode.workspace.asRelativePath(editor!.document.uri)} is sent with it)`
      : selection
        ? 'Prompt (the selected text is sent with it)'
        : 'Prompt (only the prompt is sent; use "Generate with This File…" to send the file)',
    placeHolder: includeDocument ? 'e.g. Explain this file' : 'e.g. Write a docstring for a retry helper',
    ignoreFocusOut: true,
  });
  if (!prompt) {
    return;
  }
  await runGenerate(server, generations, answers, {
    title,
    prompt,
    editor,
    includeDocument,
    insert: settings.output === 'insert',
  });
}

export function registerGenerate(server: Server, generations: Generations, answers: AnswerView): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('greycloud.ui.generate', () => generate(server, generations, answers, false)),
    vscode.commands.registerCommand('greycloud.ui.generateWithFile', () => generate(server, generations, answers, true)),
  ];
}
