/**
 * What the soak and the reliability tests need around a running service: a tiny model on disk
 * (random weights, real tokenizer) with its graph cache warmed, `adp serve` as a child process
 * (optionally under a file-size limit or a write sandbox) whose memory can be read from `/proc`, and
 * a client that sends frames with ids and keeps every result by frame id, so that a lost or doubled
 * result cannot go unnoticed.
 *
 * @module
 */
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { writeRandomCheckpoint } from "../../src/clip/random_checkpoint.ts";
import { loadClip } from "../../src/model/clip_model.ts";
import { decodeResult, type ResultMessage, type StatusReply } from "../../src/stream/messages.ts";
import {
  Endpoint,
  framesSubject,
  Header,
  JetStreamName,
  resultsSubject,
  serviceSubject,
} from "../../src/stream/subjects.ts";

const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;

/** A tiny CLIP on disk whose graph cache lives under `xdg` (pass it as XDG_CACHE_HOME to a child). */
export interface TinyModelDir {
  /** The checkpoint folder (`--model`). */
  dir: string;
  /** XDG_CACHE_HOME for a child process: its graph cache is already built there. */
  xdg: string;
}

/**
 * Writes the tiny architecture (random weights, seed 0) with the real BPE vocabulary under `root`
 * and builds its ONNX graphs once, so a child `adp serve` only reads its cache.
 *
 * @param root an empty folder
 * @param vocab the BPE vocabulary file (`../shared/fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz`)
 */
export async function writeTinyModel(root: string, vocab: string): Promise<TinyModelDir> {
  const dir = join(root, "tiny");
  const xdg = join(root, "xdg");
  await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip" });
  await copyFile(vocab, join(dir, "bpe_simple_vocab_16e6.txt.gz"));
  const clip = await loadClip(dir, {
    device: "cpu",
    cacheDir: join(xdg, "adp-edge"),
    log: () => {},
    threads: 1,
  });
  await clip.dispose();
  return { dir, xdg };
}

/** Options of {@linkcode spawnServe}. */
export interface ServeOptions {
  model: TinyModelDir;
  stateDir: string;
  natsUrl: string;
  /** More `adp serve` flags. */
  args?: string[];
  /**
   * A file-size limit for the child (RLIMIT_FSIZE, `ulimit -f`, KiB) with SIGXFSZ ignored: writes past
   * it fail with EFBIG ("File too large"), for root too. What a full disk looks like to the service.
   */
  fileSizeLimitKiB?: number;
  /** Paths the child may not write (Deno's `--deny-write`): a read-only folder, for root too. */
  denyWrite?: string[];
  /** Lines the child prints on stderr. @default dropped */
  log?: (line: string) => void;
}

/** A running `adp serve` child. */
export interface ServeProcess extends AsyncDisposable {
  readonly pid: number;
  /** Resident memory now, bytes (`VmRSS`). */
  rss(): Promise<number>;
  /** Highest resident memory since start, bytes (`VmHWM`). */
  peakRss(): Promise<number>;
  /** Everything printed on stderr so far. */
  readonly stderr: string[];
  /** Sends SIGTERM (the service answers what it received, then exits) and returns the exit code. */
  stop(): Promise<number>;
  /** Sends SIGKILL (nothing is answered or flushed) and waits for the process to end. */
  kill(): Promise<void>;
}

/**
 * Starts `adp serve` in a child process and waits until its micro service answers.
 *
 * @param opts model, state dir, server, limits
 * @returns the child
 */
export async function spawnServe(opts: ServeOptions): Promise<ServeProcess> {
  const deno = Deno.execPath();
  const permissions = opts.denyWrite?.length ? ["-A", `--deny-write=${opts.denyWrite.join(",")}`] : ["-A"];
  const serveArgs = [
    "run",
    ...permissions,
    CLI,
    "serve",
    "--model",
    opts.model.dir,
    "--state-dir",
    opts.stateDir,
    "--nats",
    opts.natsUrl,
    "--device",
    "cpu",
    "--threads",
    "1",
    ...(opts.args ?? []),
  ];
  const env = { XDG_CACHE_HOME: opts.model.xdg, NO_COLOR: "1" };
  const command = opts.fileSizeLimitKiB === undefined
    ? new Deno.Command(deno, { args: serveArgs, env, stdout: "null", stderr: "piped" })
    : new Deno.Command("bash", {
      args: [
        "-c",
        `trap '' XFSZ; ulimit -S -f ${opts.fileSizeLimitKiB}; exec "$0" "$@"`,
        deno,
        ...serveArgs,
      ],
      env,
      stdout: "null",
      stderr: "piped",
    });
  const child = command.spawn();
  const stderr: string[] = [];
  const reading = (async () => {
    let buffer = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        stderr.push(line);
        opts.log?.(line);
      }
    }
  })().catch(() => {});
  let exited: number | undefined;
  const status = child.status.then((s) => exited = s.code);
  const proc = (key: string) => async () => {
    const text = await Deno.readTextFile(`/proc/${child.pid}/status`).catch(() => "");
    const kb = Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0);
    return kb * 1024;
  };
  const serve: ServeProcess = {
    pid: child.pid,
    rss: proc("VmRSS"),
    peakRss: proc("VmHWM"),
    stderr,
    async stop() {
      if (exited === undefined) {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
      }
      const code = (await child.status).code;
      await reading;
      return code;
    },
    async kill() {
      if (exited === undefined) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await child.status;
      await reading;
    },
    async [Symbol.asyncDispose]() {
      await serve.stop();
    },
  };
  // Ready once a line says it listens (its subscriptions are flushed by then).
  const deadline = Date.now() + 60_000;
  while (!stderr.some((l) => l.includes("adp serve: listening"))) {
    if (exited !== undefined) {
      await reading;
      throw new Error(`adp serve exited with ${exited} before listening:\n${stderr.join("\n")}`);
    }
    if (Date.now() > deadline) {
      await serve.stop();
      throw new Error(`adp serve did not start within 60 s:\n${stderr.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  void status;
  return serve;
}

/** Publishes a frame with its id and capture time. */
export function publishFrame(nc: NatsConnection, station: string, bytes: Uint8Array, frameId: string): void {
  const h = headers();
  h.set(Header.frameId, frameId);
  h.set(Header.capturedAt, String(Date.now()));
  nc.publish(framesSubject(station), bytes, { headers: h });
}

/** The service's status (this instance's, the first that answers). */
export async function requestStatus(nc: NatsConnection): Promise<StatusReply> {
  const reply = await nc.request(serviceSubject(Endpoint.status), "", { timeout: 10_000 });
  return reply.json<StatusReply>();
}

/** A result as the tracker keeps it: the message and when it arrived (ms, `performance.now()`). */
export interface Tracked {
  result: ResultMessage;
  at: number;
}

/**
 * Every result of one station, by frame id: results for ids never sent and second results for an id
 * are counted apart, so "frames in = results out" is checked exactly.
 */
export class ResultTracker {
  readonly byId = new Map<string, Tracked>();
  /** Results for an id that already had one. */
  duplicates = 0;
  /** Results that did not decode as a result message. */
  malformed = 0;
  readonly #sub;
  #listeners = new Set<(t: Tracked) => void>();
  readonly #station: string;

  constructor(nc: NatsConnection, station: string) {
    this.#station = station;
    this.#sub = nc.subscribe(resultsSubject(station), {
      callback: (_error, msg: Msg) => {
        let result: ResultMessage;
        try {
          result = decodeResult(msg.data);
        } catch {
          this.malformed++;
          return;
        }
        if (this.byId.has(result.frameId)) {
          this.duplicates++;
          return;
        }
        const t = { result, at: performance.now() };
        this.byId.set(result.frameId, t);
        for (const l of this.#listeners) l(t);
      },
    });
  }

  /** Calls `fn` for each new result until the returned function is called. */
  listen(fn: (t: Tracked) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves when every id has a result, or after `timeoutMs` with the ids still missing. */
  async waitAll(ids: Iterable<string>, timeoutMs: number): Promise<string[]> {
    const wanted = [...ids];
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (wanted.every((id) => this.byId.has(id))) return [];
      await new Promise((r) => setTimeout(r, 20));
    }
    return wanted.filter((id) => !this.byId.has(id));
  }

  /**
   * Adds the results the subscription missed (it was disconnected) from stream `ADP_RESULTS`
   * (`--jetstream`), reading the station's results there once from the start; returns how many.
   */
  async fillFromStream(nc: NatsConnection): Promise<number> {
    // Unfiltered (a filter list needs nats-server 2.10): the station's subject is picked here.
    const consumer = await jetstream(nc).consumers.get(JetStreamName.resultStream);
    let added = 0;
    const messages = await consumer.fetch({ max_messages: 100_000, expires: 5000 });
    for await (const m of messages) {
      const result = m.subject === resultsSubject(this.#station) ? decodeResult(m.data) : undefined;
      if (result && !this.byId.has(result.frameId)) {
        this.byId.set(result.frameId, { result, at: performance.now() });
        added++;
      }
      if (m.info.pending === 0) break;
    }
    await messages.close().catch(() => {});
    return added;
  }

  /** The result of `id`, waiting up to `timeoutMs`. */
  async waitOne(id: string, timeoutMs = 30_000): Promise<ResultMessage> {
    const missing = await this.waitAll([id], timeoutMs);
    if (missing.length) throw new Error(`No result for frame ${id} within ${timeoutMs} ms`);
    return this.byId.get(id)!.result;
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

/** Whether a result is one of the contract's two shapes: a score and no error, or an error with a reason and no score. */
export function isClearResult(r: ResultMessage): boolean {
  if (r.error === undefined) {
    return typeof r.score === "number" && Number.isFinite(r.score) && r.reason === undefined &&
      typeof r.anomalous === "boolean";
  }
  return typeof r.error === "string" && r.error.length > 0 && r.error.length <= 1000 &&
    !r.error.includes("\n") &&
    typeof r.reason === "string" && r.score === null && r.anomalous === null;
}

/** The `q` quantile (0–1) of `values`, NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
