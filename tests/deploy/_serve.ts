/**
 * What the deploy tests share: an `adp serve` child started with exactly the flags a test gives
 * (no defaults added), its stderr lines kept, HTTP helpers for its ops endpoint, a parser of the
 * Prometheus text format, and a TCP relay that holds a connection until released.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

/** A running child. */
export interface Child extends AsyncDisposable {
  readonly stderr: string[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
}

/** Starts `adp <args>` as a child (`deno run -A src/cli.ts`), with `env` added to a clean environment. */
export function spawnAdp(args: string[], env: Record<string, string> = {}, cwd?: string): Child {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { ...inherited(), NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const reading = (async () => {
    let buffer = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      stderr.push(...lines);
    }
    if (buffer) stderr.push(buffer);
  })().catch(() => {});
  const exited = child.status.then(async (s) => {
    await reading;
    return s.code;
  });
  let done = false;
  exited.then(() => done = true);
  const stop = async () => {
    if (!done) {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
    }
    return await exited;
  };
  return { stderr, exited, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/** What a child needs from this environment to run Deno at all: nothing about NATS or ADP. */
function inherited(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "DENO_DIR", "TMPDIR"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) out[name] = v;
  }
  // Deno's own cache follows XDG_CACHE_HOME, which tests set for the model's graph cache: pin it.
  const home = Deno.env.get("HOME");
  out.DENO_DIR ??= `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/deno`;
  return out;
}

/** Waits until `check()` holds (polled every 50 ms), failing after `ms` with `what` and the child's log. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  child?: Child,
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}${child ? `:\n${child.stderr.join("\n")}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET `url`: status and body, or status 0 when nothing answers. */
export async function get(url: string): Promise<{ status: number; body: string; type: string }> {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") ?? "" };
  } catch {
    return { status: 0, body: "", type: "" };
  }
}

/** A free loopback port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One sample of the text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text exposition format (0.0.4) strictly: every line is a `# HELP`, a
 * `# TYPE` naming a known type, or a sample `name{label="value",…} number`; anything else throws.
 * Every sample's metric family must have been declared by a `# TYPE` line.
 */
export function parsePrometheusText(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(type)) {
        throw new Error(`bad TYPE line: ${line}`);
      }
      types.set(name, type);
      continue;
    }
    const m = sampleRe.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      labelRe.lastIndex = 0;
      let l;
      let at = 0;
      while ((l = labelRe.exec(m[3])) !== null) {
        labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
        at = labelRe.lastIndex;
      }
      if (at !== m[3].length) throw new Error(`bad labels: ${line}`);
    }
    const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== "NaN") throw new Error(`bad value: ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, "");
    if (!types.has(m[1]) && !types.has(family)) throw new Error(`sample without TYPE: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, samples };
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

/** A TCP relay to `target` that holds every connection until {@linkcode Relay.release}. */
export interface Relay extends AsyncDisposable {
  readonly port: number;
  release(): void;
}

/** Starts a relay on a free loopback port. */
export function holdingRelay(target: number): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const conns: Deno.Conn[] = [];
  const tasks: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      tasks.push(
        (async () => {
          await released;
          const upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
          conns.push(upstream);
          await Promise.allSettled([
            conn.readable.pipeTo(upstream.writable),
            upstream.readable.pipeTo(conn.writable),
          ]);
        })().catch(() => {}),
      );
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    release,
    async [Symbol.asyncDispose]() {
      release();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
      await accepting;
      await Promise.allSettled(tasks);
    },
  };
}
