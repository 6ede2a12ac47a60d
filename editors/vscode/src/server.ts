// The greycloud-lsp process: start, restart (by itself when `greycloud.server.*`
// changes), stop, and the per-session notification handlers features attach to it.

import * as vscode from 'vscode';
import {
  ExecuteCommandParams,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { Log, errorMessage } from './log';
import { SECTION, ServerLaunch, affectsServerLaunch, currentServerSettings, serverLaunch, serverSettings } from './settings';

/** Called for every new client before it starts; the returned handlers are disposed when it stops. */
export type SessionHook = (client: LanguageClient) => vscode.Disposable[];

/** Runs a server command the language client was asked to execute (e.g. from a code action). */
export type CommandInterceptor = (args: unknown[]) => Promise<unknown>;

/** Quiet time after a settings change before the server is restarted (code-server sends several). */
const RESTART_DEBOUNCE_MS = 300;
/** A failed start is reported only if no newer start replaced it within this time. */
const START_ERROR_GRACE_MS = 2000;

export class Server implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private session: vscode.Disposable[] = [];
  private readonly hooks: SessionHook[] = [];
  private readonly changed = new vscode.EventEmitter<LanguageClient | undefined>();
  private readonly disposables: vscode.Disposable[] = [this.changed];
  /** Start/stop run one after another. */
  private queue: Promise<void> = Promise.resolve();
  private starts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private launched: ServerLaunch | undefined;
  private readonly interceptors = new Map<string, CommandInterceptor>();

  /** Fires after a client started (or failed: undefined) and after it stopped. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly log: Log) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affectsServerLaunch(e)) {
          this.scheduleRestart('greycloud.server settings changed');
        }
      }),
    );
  }

  /** Attach notification handlers to every client this manager starts. */
  addSessionHook(hook: SessionHook): void {
    this.hooks.push(hook);
    if (this.client) {
      this.session.push(...hook(this.client));
    }
  }

  /** Run `command` (when the editor executes it, e.g. a code action) with `run` instead of plainly. */
  interceptCommand(command: string, run: CommandInterceptor): void {
    this.interceptors.set(command, run);
  }

  /** The running client, or undefined. */
  get running(): LanguageClient | undefined {
    return this.client && this.client.state === State.Running ? this.client : undefined;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  restart(reason: string): Promise<void> {
    this.log.info(`restarting the server: ${reason}`);
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  /** workspace/executeCommand with one argument object; optional client-chosen progress token. */
  async execute<T>(
    command: string,
    arg: object,
    options: { token?: vscode.CancellationToken; workDoneToken?: string } = {},
  ): Promise<T> {
    const client = this.running;
    if (!client) {
      throw new Error('the GreyCloud language server is not running (see "GreyCloud: Show Log")');
    }
    const params: ExecuteCommandParams = { command, arguments: [arg] };
    if (options.workDoneToken !== undefined) {
      params.workDoneToken = options.workDoneToken;
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, params, options.token)) as T;
  }

  dispose(): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    void this.stop();
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  private scheduleRestart(reason: string): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      const next = serverLaunch();
      if (this.launched && JSON.stringify(next) === JSON.stringify(this.launched) && this.running) {
        this.log.info(`${reason}; the command line is unchanged, no restart`);
        return;
      }
      void this.restart(reason);
    }, RESTART_DEBOUNCE_MS);
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(step, step);
    return this.queue;
  }

  private async doStart(): Promise<void> {
    const launch = serverLaunch();
    const attempt = ++this.starts;
    this.launched = launch;
    this.log.info(`server command: ${[launch.command, ...launch.args].join(' ')}`);
    const client = new LanguageClient(
      'greycloud',
      'GreyCloud',
      { ...launch, transport: TransportKind.stdio },
      this.clientOptions(),
    );
    this.client = client;
    for (const hook of this.hooks) {
      this.session.push(...hook(client));
    }
    this.session.push(client.onDidChangeState(() => this.changed.fire(this.running)));
    try {
      await client.start();
      this.log.info(`server started: ${JSON.stringify(client.initializeResult?.serverInfo ?? {})}`);
      this.changed.fire(client);
    } catch (err) {
      let message = errorMessage(err);
      if (vscode.env.remoteName && /ENOENT/.test(message)) {
        // Machine-scoped settings set in the user settings do not apply in a remote window.
        message += ` (in a ${vscode.env.remoteName} window, set greycloud.server.command or greycloud.server.pythonPath in the Remote settings)`;
      }
      this.log.error(`could not start the server (${launch.command}): ${message}`);
      await this.doStop();
      this.changed.fire(undefined);
      // Settings can arrive after activation (code-server): a restart may follow at once.
      setTimeout(() => {
        if (this.starts === attempt) {
          void vscode.window
            .showErrorMessage(`GreyCloud: could not start ${launch.command}: ${message}`, 'Show Log')
            .then((a) => a && this.log.show());
        }
      }, START_ERROR_GRACE_MS);
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const d of this.session.splice(0)) {
      d.dispose();
    }
    if (!client) {
      return;
    }
    try {
      if (client.state !== State.Stopped) {
        await client.stop(5000);
      }
    } catch (err) {
      this.log.debug(`stopping the server: ${errorMessage(err)}`);
    }
    try {
      await client.dispose();
    } catch {
      // already stopped
    }
    this.changed.fire(undefined);
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: currentServerSettings(),
      synchronize: { configurationSection: SECTION },
      middleware: {
        executeCommand: async (command, args, next) => {
          const run = this.interceptors.get(command);
          return run ? run(args) : next(command, args);
        },
        workspace: {
          // Serve `workspace/configuration` without the client-only keys.
          configuration: async (params, token, next) => {
            const result = await next(params, token);
            if (!Array.isArray(result)) {
              return result;
            }
            return result.map((value, i) => {
              const section = params.items[i]?.section;
              return section === SECTION || section === undefined ? serverSettings(value) : value;
            });
          },
        },
      },
    };
  }
}
