/**
 * A nats-server child process on a free loopback port: the demo's private bus when none answers, and
 * the real server that tests and benchmarks run against. Its configuration (JetStream store, payload
 * limit, any extra blocks) lives in a folder the caller owns.
 *
 * @module
 */
import { join } from "node:path";

/** Where Debian and manual installs put the binary (Debian's /usr/sbin is often off a user's PATH). */
const NATS_SERVER_BINARIES = [
  "nats-server",
  "/usr/sbin/nats-server",
  "/usr/local/sbin/nats-server",
  "/usr/local/bin/nats-server",
];

/** Options of {@linkcode startNatsServer}. */
export interface NatsServerOptions {
  /** A folder for the config file and the JetStream store. */
  dir: string;
  /** Turn JetStream on (its store goes under `dir`). @default true */
  jetstream?: boolean;
  /** Largest message the server accepts. @default 8 MiB (frames are bigger than NATS's 1 MiB default) */
  maxPayload?: number;
  /** Extra configuration lines (authorization blocks, TLS). */
  config?: string;
  /**
   * Its own process group, so that a Ctrl-C in the terminal reaches only the caller, which can then
   * drain its clients before it stops the server.
   * @default false
   */
  detached?: boolean;
}

/** A running server. */
export interface NatsServerProcess {
  /** The loopback port it listens on. */
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /** Its process id. */
  readonly pid: number;
  /** The end of the server's log (for a failed start or an unexpected exit). */
  log(): string;
  /** Stops the process and starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops the process (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

/**
 * The nats-server binary to run.
 *
 * @throws {Error} saying how to install it when it is nowhere to be found
 */
export async function findNatsServer(): Promise<string> {
  for (const candidate of NATS_SERVER_BINARIES) {
    try {
      const out = await new Deno.Command(candidate, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
      if (out.success) return candidate;
    } catch {
      // not at this place: try the next
    }
  }
  throw new Error(
    `nats-server is not installed (not on PATH, nor in ${NATS_SERVER_BINARIES.slice(1).join(", ")}): ` +
      "install it with `apt-get install nats-server`",
  );
}

/** Starts a nats-server on a free loopback port and waits until it listens. */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServerProcess> {
  const binary = await findNatsServer();
  const port = freePort();
  const configFile = join(opts.dir, "nats-server.conf");
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `max_payload: ${opts.maxPayload ?? 8 * 1024 * 1024}`,
    ...(opts.jetstream ?? true ? [`jetstream { store_dir: "${join(opts.dir, "jetstream")}" }`] : []),
    opts.config ?? "",
  ];
  await Deno.writeTextFile(configFile, lines.join("\n") + "\n");
  let current = await spawn(binary, configFile, port, opts.detached ?? false);
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get pid() {
      return current.process.pid;
    },
    log: () => current.log(),
    async restart() {
      await current.stop();
      current = await spawn(binary, configFile, port, opts.detached ?? false);
    },
    stop: () => current.stop(),
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function spawn(binary: string, configFile: string, port: number, detached: boolean) {
  const process = new Deno.Command(binary, {
    args: ["-c", configFile],
    stdout: "null",
    stderr: "piped",
    detached,
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  // Read, so that the pipe never fills and stalls the server; the tail explains a failed start.
  const logDone = process.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (log = (log + decoder.decode(chunk)).slice(-4000)) }),
  ).catch(() => {});
  let exited = false;
  const status = process.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        process.kill("SIGTERM");
      } catch {
        // gone already
      }
    }
    await status;
    await logDone;
  };
  const deadline = Date.now() + 10_000;
  while (true) {
    if (exited) {
      await logDone;
      throw new Error(`nats-server exited before listening on port ${port}:\n${log.trim()}`);
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nats-server did not listen on port ${port} within 10 s:\n${log.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return { process, stop, log: () => log };
}
