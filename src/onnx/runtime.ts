/**
 * The one module that touches onnxruntime-node: execution-provider selection, session creation,
 * checked runs. Everything else passes plain typed arrays in and gets {@linkcode RunTensor}s back.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { ErrorCode, OnnxRunError, ProcessorError } from "../errors.ts";
import { awaitRunTurn } from "./run_turns.ts";

// The native default logs provider-load failures as errors; createSession reports them in one line instead.
ort.env.logLevel = "fatal";

/** What the operator asks for; `auto` takes the fastest provider that loads. */
export type Device = "cpu" | "cuda" | "webgpu" | "auto";
/** A provider that actually runs a session. */
export type Provider = Exclude<Device, "auto">;

/** The devices a user may name, for option validation. */
export const DEVICES: readonly Device[] = ["auto", "cpu", "cuda", "webgpu"];

/**
 * Order tried by `auto`. WebGPU is not in it: onnxruntime's WebGPU provider leaves many of the
 * transformer's ops to the CPU and copies across at each boundary, so it is chosen only on request.
 */
const AUTO_ORDER: readonly Provider[] = ["cuda", "cpu"];

/** A tensor going in or out of a session. */
export interface RunTensor {
  /** The elements, row-major (Float16Array for a float16 tensor, as onnxruntime-web/node use it). */
  readonly data: Float32Array | BigInt64Array | Int32Array | Float16Array;
  /** Dimensions, outermost first. */
  readonly dims: readonly number[];
}

/** Options for {@linkcode createSession}. */
export interface SessionOptions {
  /** Where the sessions run; `auto` picks CUDA when it works, else the CPU. @default "auto" */
  device?: Device;
  /** Intra-op threads for the CPU provider; @default all cores */
  threads?: number;
  /** What the session is, for the log line; @default the model file's name */
  label?: string;
  /** Receives the one line saying which provider runs and why. @default console.error */
  log?: (line: string) => void;
}

/** An onnxruntime session with checked feeds. */
export class OnnxSession {
  /** The execution provider that runs it. */
  readonly provider: Provider;
  /** The model's input names, in its order. */
  readonly inputNames: readonly string[];
  /** The model's output names, in its order. */
  readonly outputNames: readonly string[];
  /**
   * Each tensor input's element type (`float32`, `float16`, `int64`, …) and declared dims (a number,
   * or a name for a free dim), for models the project did not build, whose exports differ.
   */
  readonly inputTypes: ReadonlyMap<string, { type: string; dims: readonly (number | string)[] }>;
  readonly #session: ort.InferenceSession;
  readonly #path: string;

  /** Wraps an open onnxruntime session; {@linkcode createSession} makes them. */
  constructor(session: ort.InferenceSession, provider: Provider, path: string) {
    this.#session = session;
    this.provider = provider;
    this.#path = path;
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
    this.inputTypes = new Map(
      session.inputMetadata.flatMap((m) => m.isTensor ? [[m.name, { type: m.type, dims: m.shape }]] : []),
    );
  }

  /**
   * Runs the graph. Every declared input must be fed; only `outputs` (default all) are fetched. Inside
   * a background lane (run_turns.ts) the run first waits for urgent runs.
   *
   * @throws {OnnxRunError} naming each input's type and dims when onnxruntime fails
   */
  async run(
    feeds: Record<string, RunTensor>,
    outputs?: readonly string[],
  ): Promise<Record<string, RunTensor>> {
    const missing = this.inputNames.filter((name) => !(name in feeds));
    const extra = Object.keys(feeds).filter((name) => !this.inputNames.includes(name));
    if (missing.length || extra.length) {
      throw new OnnxRunError(
        `Feeds do not match ${this.#path}: missing [${missing.join(", ")}], unexpected [${extra.join(", ")}]`,
      );
    }
    await awaitRunTurn();
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      ortFeeds[name] = t.data instanceof Float16Array
        ? float16Tensor(t.data, t.dims)
        : new ort.Tensor(t.data, t.dims as number[]);
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.#session.run(ortFeeds, (outputs ?? this.outputNames) as string[]);
    } catch (error) {
      const shapes = Object.entries(feeds)
        .map(([name, t]) => `${name}: ${t.data.constructor.name}[${t.dims}]`)
        .join(", ");
      throw new OnnxRunError(`Running ${this.#path} failed with ${shapes}: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      for (const t of Object.values(ortFeeds)) t.dispose();
    }
    const out: Record<string, RunTensor> = {};
    for (const [name, t] of Object.entries(result)) {
      out[name] = { data: t.data as RunTensor["data"], dims: t.dims };
      t.dispose();
    }
    return out;
  }

  /** Releases the native session. */
  async dispose(): Promise<void> {
    await this.#session.release();
  }
}

/**
 * Opens a model (a file, or its bytes) on the requested device, falling back (with one log line that
 * says why) when the provider cannot load: `cuda` needs onnxruntime's separately installed CUDA
 * provider and a GPU. A model whose weights live in an external file must be opened by path.
 *
 * @throws {ProcessorError} DEVICE_UNAVAILABLE when no provider in the chain loads the model
 */
export async function createSession(
  model: string | Uint8Array,
  opts: SessionOptions = {},
): Promise<OnnxSession> {
  const name = typeof model === "string" ? model : "an in-memory model";
  const device = opts.device ?? "auto";
  const log = opts.log ?? ((line: string) => console.error(line));
  const chain: Provider[] = device === "auto"
    ? [...AUTO_ORDER]
    : device === "cpu"
    ? ["cpu"]
    : [device, "cpu"];
  const failures: string[] = [];
  for (const provider of chain) {
    try {
      const options = {
        executionProviders: [provider],
        graphOptimizationLevel: "all",
        intraOpNumThreads: opts.threads ?? 0,
        interOpNumThreads: 1,
        logSeverityLevel: 4, // provider-load failures are reported once, below, not as native noise
      } as const;
      const session = typeof model === "string"
        ? await ort.InferenceSession.create(model, options)
        : await ort.InferenceSession.create(model, options);
      const why = failures.length ? ` (${failures.join("; ")})` : device === provider ? " (requested)" : "";
      log(`onnxruntime: ${provider} runs ${opts.label ?? baseName(name)}${why}`);
      return new OnnxSession(session, provider, name);
    } catch (error) {
      failures.push(`${provider} unavailable: ${firstLine((error as Error).message)}`);
    }
  }
  throw new ProcessorError(
    ErrorCode.DEVICE_UNAVAILABLE,
    `No execution provider could load ${name}: ${failures.join("; ")}`,
  );
}

/** The providers this onnxruntime-node build knows, and whether each ships in the npm package. */
export function listProviders(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

/** The version of onnxruntime-node (the npm package, which carries the native library's). */
export function runtimeVersion(): string {
  const versions = (ort.env as unknown as { versions?: Record<string, string> }).versions;
  return versions?.node ?? versions?.common ?? "unknown";
}

/**
 * A float16 tensor that onnxruntime-node's binding can read: onnxruntime-common stores float16 data
 * as a Float16Array where the runtime has one, which the native binding (through Deno's Node-API)
 * does not see as a typed array (it reads zero bytes); the same bits in a Uint16Array it reads.
 */
function float16Tensor(data: Float16Array, dims: readonly number[]): ort.Tensor {
  const bits = new Uint16Array(data.buffer, data.byteOffset, data.length);
  const tensor = new ort.Tensor("float16", bits, dims as number[]);
  (tensor as unknown as { cpuData: Uint16Array }).cpuData = bits;
  return tensor;
}

/** onnxruntime prefixes messages with its source path and function; the reason is what follows. */
function firstLine(text: string): string {
  const line = text.split("\n")[0]
    .replace(/^\/onnxruntime_src\/\S+ \S+ /, "")
    .replace(/^.* was false\. /, ""); // an internal assertion's text; its explanation follows it
  return line.length > 240 ? `${line.slice(0, 240)}…` : line;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
