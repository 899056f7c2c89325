/**
 * The decoder path under fuzz: mutated real frames go through exactly what `adp serve` does with a
 * frame before the model sees it — the size limit, `readImageHeader` and the pixel limit on the main
 * thread, then `decodeImage` in the service's own decode worker pool (`DecodePool`) — and each one's
 * outcome is counted by the reason the service would publish. A crash is anything the service could
 * not turn into a clear result: a worker that dies, an error that is not an `ImageError`, a decode
 * that hangs, or a decoded image that does not match its header. Peak RSS of the process (workers
 * included) is sampled throughout.
 *
 * @module
 */
import { join } from "node:path";
import { DEFAULT_MAX_PIXELS, readImageHeader } from "../../src/image/mod.ts";
import { ImageError } from "../../src/errors.ts";
import { Random } from "../../src/random.ts";
import { DecodePool } from "../../src/stream/decode_pool.ts";
import { DecoderCrashError } from "../../src/stream/errors.ts";
import type { FramePreparation } from "../../src/adp/frame_input.ts";
import { type Mutant, mutate, type SeedFrame } from "./mutate.ts";

/** What the service asks of the workers for a station with an ONNX patch backbone: both resizes run. */
const PREPARATION: FramePreparation = {
  clip: { size: 224, mean: [0.481, 0.458, 0.408], std: [0.269, 0.261, 0.276] },
  patchInputs: [{ key: "backbone", width: 224, height: 224, resize: "whole", interpolation: "bilinear" }],
};

/** The service's default payload limit (`--max-frame-bytes`). */
export const SERVICE_MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Options of {@linkcode runDecoderFuzz}. */
export interface FuzzOptions {
  corpus: readonly SeedFrame[];
  /** Mutated frames to try. */
  count: number;
  /** @default 1 */
  seed?: number;
  /** @default the service's 50 M */
  maxPixels?: number;
  /** @default the service's 8 MiB */
  maxFrameBytes?: number;
  /** A decode taking longer counts as a hang (a crash). @default 30000 */
  timeoutMs?: number;
  /** Decode workers. @default 1 */
  workers?: number;
  /** Crashing frames are written here, when given, to replay them. */
  crashDir?: string;
  /**
   * Every this many mutants, each unmutated seed frame of one format in turn is decoded and must still
   * decode: hostile frames must not break the decoder for the good ones after them. @default 50
   */
  sentinelEvery?: number;
  /** Called every `progressEvery` frames. */
  onProgress?: (done: number, report: FuzzReport) => void;
  /** @default 1000 */
  progressEvery?: number;
}

/** What a fuzz run saw. */
export interface FuzzReport {
  tried: number;
  /** By the reason the service publishes: `decoded` (it would be scored), `empty`, `too-large`, `undecodable`. */
  byReason: Record<string, number>;
  /** Error results by what their message says (PNG truncated, JPEG corrupt, …). */
  byMessage: Record<string, number>;
  /** Per mutation: frames it took part in, and how many of those still decoded. */
  byMutation: Record<string, { tried: number; decoded: number }>;
  /** Frames the service could not have answered cleanly; must stay empty. */
  crashes: { what: string; mutant: string; message: string }[];
  /** Unmutated frames decoded between the mutants to check the decoder still works. */
  sentinels: number;
  /** Errors whose message is not one clear sentence (empty, multi-line, over 300 characters). */
  unclearErrors: number;
  /** The first few of them. */
  unclearExamples: string[];
  startRssBytes: number;
  peakRssBytes: number;
  endRssBytes: number;
  /** RSS after the first tenth of the run: growth beyond it would be a leak. */
  warmRssBytes: number;
  slowestMs: number;
  durationMs: number;
}

/** Frame outcomes as the service names them. */
export const Outcome = {
  decoded: "decoded",
  empty: "empty",
  tooLarge: "too-large",
  undecodable: "undecodable",
} as const;

/**
 * Runs `count` mutated frames through the service's decoder path and counts what happens.
 *
 * @param opts corpus, count, limits
 * @returns the counts, crashes (must be none) and memory figures
 */
export async function runDecoderFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxFrameBytes = opts.maxFrameBytes ?? SERVICE_MAX_FRAME_BYTES;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const workers = opts.workers ?? 1;
  const sentinelEvery = opts.sentinelEvery ?? 50;
  const rng = Random.forStream(opts.seed ?? 1, "decoder-fuzz");
  const started = performance.now();
  const report: FuzzReport = {
    tried: 0,
    byReason: {},
    byMessage: {},
    byMutation: {},
    crashes: [],
    sentinels: 0,
    unclearErrors: 0,
    unclearExamples: [],
    startRssBytes: Deno.memoryUsage().rss,
    peakRssBytes: 0,
    endRssBytes: 0,
    warmRssBytes: 0,
    slowestMs: 0,
    durationMs: 0,
  };
  report.peakRssBytes = report.startRssBytes;
  let pool = new DecodePool(workers);
  const count = (map: Record<string, number>, key: string) => map[key] = (map[key] ?? 0) + 1;

  const crash = async (what: string, m: Mutant, index: number, message: string) => {
    report.crashes.push({ what, mutant: `#${index} ${m.seed} ${m.kinds.join("+")}`, message });
    if (opts.crashDir) {
      await Deno.mkdir(opts.crashDir, { recursive: true });
      await Deno.writeFile(join(opts.crashDir, `crash-${index}.bin`), m.bytes);
    }
  };

  const one = async (m: Mutant, index: number): Promise<void> => {
    const t0 = performance.now();
    const outcome = await classify(m, index);
    report.slowestMs = Math.max(report.slowestMs, performance.now() - t0);
    count(report.byReason, outcome);
    for (const kind of new Set(m.kinds)) {
      const s = report.byMutation[kind] ??= { tried: 0, decoded: 0 };
      s.tried++;
      if (outcome === Outcome.decoded) s.decoded++;
    }
  };

  const refused = (message: string, why: string): string => {
    if (!message || message.length > 300 || /\n/.test(message)) {
      report.unclearErrors++;
      if (report.unclearExamples.length < 5) report.unclearExamples.push(message);
    }
    count(report.byMessage, messageKind(message));
    return why;
  };

  const classify = async (m: Mutant, index: number): Promise<string> => {
    const bytes = m.bytes;
    // What processor.#onFrame does before a frame is queued.
    if (bytes.length === 0) return refused("Frame is empty: zero bytes", Outcome.empty);
    if (bytes.length > maxFrameBytes) return refused("Frame is too large", Outcome.tooLarge);
    let header;
    try {
      header = readImageHeader(bytes);
    } catch (error) {
      if (!(error instanceof ImageError)) {
        await crash("header-not-image-error", m, index, String(error));
        return "crash";
      }
      return refused(error.message, Outcome.undecodable);
    }
    if (header.width * header.height > maxPixels) return refused("Image is too large", Outcome.tooLarge);
    // What the decode worker does.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<"hang">((r) => timer = setTimeout(() => r("hang"), timeoutMs));
    const decoding = pool.decode(bytes, maxPixels, PREPARATION);
    decoding.catch(() => {});
    try {
      const decoded = await Promise.race([decoding, hang]);
      if (decoded === "hang") {
        await crash("hang", m, index, `no answer within ${timeoutMs} ms`);
        pool.terminate();
        pool = new DecodePool(workers);
        return "crash";
      }
      const { image, prepared } = decoded;
      const side = PREPARATION.clip.size;
      if (
        image.width !== header.width || image.height !== header.height ||
        image.data.length !== image.width * image.height * 3 ||
        prepared?.clipPixels.length !== 3 * side * side ||
        prepared.patchInputs.backbone?.data.length !== side * side * 3
      ) {
        await crash(
          "inconsistent-image",
          m,
          index,
          `header ${header.width}×${header.height}, image ${image.width}×${image.height} with ${image.data.length} bytes, ` +
            `prepared ${prepared?.clipPixels.length} CLIP values`,
        );
        return "crash";
      }
      return Outcome.decoded;
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      if (!(error instanceof ImageError) || error instanceof DecoderCrashError) {
        await crash("decoder-crash", m, index, message);
        return "crash";
      }
      // The header was checked against the same pixel limit above: a worker's refusal is never "too large".
      return refused(message, Outcome.undecodable);
    } finally {
      clearTimeout(timer);
    }
  };

  const sentinel = async (seed: SeedFrame, index: number): Promise<void> => {
    report.sentinels++;
    try {
      await pool.decode(seed.bytes, maxPixels);
    } catch (error) {
      await crash(
        "poisoned-decoder",
        { kinds: ["none"], seed: seed.name, bytes: seed.bytes },
        index,
        `an unmutated frame failed after ${index} mutants: ${(error as Error)?.message ?? error}`,
      );
    }
  };

  try {
    // A few frames in flight keep every worker busy while the main thread mutates the next ones.
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < opts.count; i++) {
      const m = mutate(rng, opts.corpus);
      const p = one(m, i).finally(() => inFlight.delete(p));
      inFlight.add(p);
      report.tried++;
      if (inFlight.size > workers) await Promise.race(inFlight);
      if (i % 10 === 0) sampleRss(report);
      if (i % sentinelEvery === sentinelEvery - 1) {
        await Promise.all(inFlight);
        await sentinel(opts.corpus[Math.floor(i / sentinelEvery) % opts.corpus.length], i);
      }
      if (i === Math.floor(opts.count / 10)) report.warmRssBytes = Deno.memoryUsage().rss;
      if (opts.onProgress && (i + 1) % (opts.progressEvery ?? 1000) === 0) opts.onProgress(i + 1, report);
    }
    await Promise.all(inFlight);
  } finally {
    pool.terminate();
  }
  sampleRss(report);
  report.endRssBytes = Deno.memoryUsage().rss;
  report.durationMs = performance.now() - started;
  return report;
}

function sampleRss(report: FuzzReport): void {
  report.peakRssBytes = Math.max(report.peakRssBytes, Deno.memoryUsage().rss);
}

/** What an error message is about, for the counts. */
export function messageKind(message: string): string {
  if (/empty/i.test(message)) return "empty";
  if (/too large|exceeds the PNG maximum|more data than/i.test(message)) return "too large";
  if (/not recognised/i.test(message)) return "not PNG or JPEG";
  if (/^PNG.*truncated/i.test(message)) return "PNG truncated";
  if (/^PNG/i.test(message)) return "PNG corrupt or invalid";
  if (/^JPEG.*truncated or corrupt/i.test(message)) return "JPEG rejected by the decoder";
  if (/^JPEG.*truncated/i.test(message)) return "JPEG truncated";
  if (/^JPEG/i.test(message)) return "JPEG corrupt";
  return "other";
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
