/**
 * A live camera on the bus: frames from ffmpeg ({@linkcode runFfmpeg}) published on
 * `adp.frames.<station>` at a rate, or one frame per PLC trigger on `adp.trigger.<station>` with the
 * part id as frame id. ffmpeg is restarted with exponential backoff whenever the stream drops or
 * stalls; every restart and every gap without frames is counted and logged.
 *
 * @module
 */
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { framesSubject, Header } from "../stream/mod.ts";
import { type CameraSource, ffmpegArgs, isFileSource, runFfmpeg } from "./ffmpeg_source.ts";
import { TriggerDesk } from "./_trigger_desk.ts";

/** Options of {@linkcode startCapture}. */
export interface CaptureOptions {
  station: string;
  source: CameraSource;
  /** Frames per second published (free-running mode). Ignored with `trigger`. @default 5 */
  fps?: number;
  /** Publish one frame per message on `adp.trigger.<station>` instead of a steady rate. */
  trigger?: boolean;
  /** How long a trigger waits for the next frame before it is answered with an error result. @default 2000 */
  triggerTimeoutMs?: number;
  /** Frame id prefix in free-running mode (`<prefix>-<n>`). @default `<station>-<start time in base 36>` */
  idPrefix?: string;
  /** Stop after publishing this many frames. */
  count?: number;
  /** ffmpeg's JPEG quality scale, 2–31. @default 4 */
  quality?: number;
  /** Scale frames to this width. */
  width?: number;
  /** First reconnect delay, doubled up to `maxBackoffMs`. @default 250 */
  backoffMs?: number;
  /** @default 10000 */
  maxBackoffMs?: number;
  /** A stream that delivers no frame for this long is restarted. @default 5000 */
  stallMs?: number;
  /** Where log lines go. @default console.error */
  log?: (line: string) => void;
  /** The ffmpeg binary. @default "ffmpeg" */
  ffmpeg?: string;
}

/** What a capture has done so far. */
export interface CaptureStats {
  published: number;
  /** Frames refused because they exceed the server's max_payload. */
  refused: number;
  /** ffmpeg restarts after a drop or a stall. */
  reconnects: number;
  /** Gaps: times the frames stopped and came back. */
  gaps: number;
  /** Total time without frames across gaps, in ms. */
  gapMs: number;
  /** Frames the gaps cost at the configured rate (free-running mode). */
  missedFrames: number;
  triggers: number;
  /** Triggers answered with an error result (no frame in time, invalid part id). */
  triggerErrors: number;
  /** Whether ffmpeg is delivering frames now. */
  streaming: boolean;
}

/** A running capture. */
export interface Capture extends AsyncDisposable {
  stats(): CaptureStats;
  /** Resolves when the capture ended (stopped, `count` reached, or a file played to its end). */
  readonly closed: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts publishing a camera's frames.
 *
 * @param nc the bus
 * @param opts source, mode and limits
 * @returns the running capture
 *
 * @example A video file as a 5 fps camera
 * ```ts ignore
 * import { startCapture } from "./capture.ts";
 * await using cam = await startCapture(nc, { station: "line-1", source: { kind: "url", url: "line.mp4" } });
 * await cam.closed;
 * ```
 */
export async function startCapture(nc: NatsConnection, opts: CaptureOptions): Promise<Capture> {
  const capture = new CaptureLoop(nc, opts);
  await capture.start();
  return capture;
}

class CaptureLoop implements Capture {
  readonly #nc: NatsConnection;
  readonly #opts: CaptureOptions;
  readonly #subject: string;
  readonly #prefix: string;
  readonly #log: (line: string) => void;
  #stats: CaptureStats = {
    published: 0,
    refused: 0,
    reconnects: 0,
    gaps: 0,
    gapMs: 0,
    missedFrames: 0,
    triggers: 0,
    triggerErrors: 0,
    streaming: false,
  };
  #stopped = false;
  #run: ReturnType<typeof runFfmpeg> | undefined;
  #desk: TriggerDesk | undefined;
  #lastFrameAt = 0;
  #wake: (() => void) | undefined;
  closed: Promise<void> = Promise.resolve();

  constructor(nc: NatsConnection, opts: CaptureOptions) {
    this.#nc = nc;
    this.#opts = opts;
    this.#subject = framesSubject(opts.station);
    this.#prefix = opts.idPrefix ?? `${opts.station}-${Date.now().toString(36)}`;
    this.#log = opts.log ?? ((line) => console.error(line));
  }

  async start(): Promise<void> {
    ffmpegArgs(this.#opts.source, this.#encode()); // refuse bad options before anything starts
    if (this.#opts.trigger) {
      this.#desk = new TriggerDesk(this.#nc, {
        station: this.#opts.station,
        timeoutMs: this.#opts.triggerTimeoutMs ?? 2000,
        log: this.#log,
        publish: (frame, frameId) => this.#publish(frame, frameId),
        stats: this.#stats,
      });
      await this.#nc.flush();
    }
    this.closed = this.#loop();
  }

  stats(): CaptureStats {
    return { ...this.#stats };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#run?.stop();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #encode() {
    const fps = this.#opts.trigger ? undefined : this.#opts.fps ?? 5;
    return { fps, quality: this.#opts.quality, width: this.#opts.width };
  }

  async #loop(): Promise<void> {
    const args = ffmpegArgs(this.#opts.source, this.#encode());
    const initial = this.#opts.backoffMs ?? 250;
    let backoff = initial;
    try {
      while (!this.#stopped) {
        const framesBefore = this.#stats.published + this.#stats.refused;
        const delivered = await this.#runOnce(args);
        if (this.#stopped || this.#done()) break;
        if (
          delivered && isFileSource(this.#opts.source) &&
          !(this.#opts.source.kind === "url" && this.#opts.source.loop)
        ) {
          this.#log(`adp camera ${this.#opts.station}: ${this.#sourceName()} played to its end`);
          break;
        }
        if (this.#stats.published + this.#stats.refused > framesBefore || delivered) backoff = initial;
        this.#stats.reconnects++;
        this.#log(
          `adp camera ${this.#opts.station}: stream ${this.#sourceName()} dropped (${
            this.#run?.stderrTail().split("\n").at(-1) || "ffmpeg exited"
          }); reconnect ${this.#stats.reconnects} in ${backoff} ms`,
        );
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, this.#opts.maxBackoffMs ?? 10_000);
      }
    } finally {
      this.#stats.streaming = false;
      this.#desk?.close();
      await this.#nc.flush().catch(() => {});
    }
  }

  /** One ffmpeg process; returns whether it delivered any frame. */
  async #runOnce(args: string[]): Promise<boolean> {
    const run = runFfmpeg(args, { binary: this.#opts.ffmpeg });
    this.#run = run;
    const stallMs = this.#opts.stallMs ?? 5000;
    let stall = setTimeout(() => void run.stop(), stallMs);
    let delivered = false;
    try {
      for await (const frame of run) {
        clearTimeout(stall);
        stall = setTimeout(() => void run.stop(), stallMs);
        if (!delivered) this.#streamBack();
        delivered = true;
        this.#lastFrameAt = Date.now();
        this.#onFrame(frame);
        if (this.#stopped || this.#done()) break;
      }
    } finally {
      clearTimeout(stall);
      await run.stop();
      this.#stats.streaming = false;
    }
    return delivered;
  }

  #streamBack(): void {
    this.#stats.streaming = true;
    if (this.#lastFrameAt === 0) return;
    const gap = Date.now() - this.#lastFrameAt;
    this.#stats.gaps++;
    this.#stats.gapMs += gap;
    const fps = this.#encode().fps;
    const missed = fps ? Math.max(0, Math.round((gap * fps) / 1000) - 1) : 0;
    this.#stats.missedFrames += missed;
    this.#log(
      `adp camera ${this.#opts.station}: stream back after a gap of ${gap} ms` +
        (fps ? ` (~${missed} frames missed)` : "") + `; gaps so far ${this.#stats.gaps}`,
    );
  }

  #onFrame(frame: Uint8Array): void {
    if (this.#desk) this.#desk.offer(frame);
    else this.#publish(frame, `${this.#prefix}-${this.#stats.published}`);
  }

  /** Publishes a whole frame, or refuses it with a reason (never a part of it). */
  #publish(frame: Uint8Array, frameId: string): string | undefined {
    const max = this.#nc.info?.max_payload ?? Infinity;
    if (frame.length > max) {
      this.#stats.refused++;
      const why = `frame ${frameId} is ${frame.length} bytes, over the server's max_payload of ${max}: ` +
        "lower --quality (up to 31) or set --width, or raise max_payload";
      if (this.#stats.refused === 1 || this.#stats.refused % 100 === 0) {
        this.#log(`adp camera ${this.#opts.station}: refused ${why} (${this.#stats.refused} refused)`);
      }
      return why;
    }
    const h = headers();
    h.set(Header.frameId, frameId);
    h.set(Header.capturedAt, new Date().toISOString());
    this.#nc.publish(this.#subject, frame, { headers: h });
    this.#stats.published++;
    return undefined;
  }

  /** Waits `ms`, or less when the capture is stopped meanwhile. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #done(): boolean {
    return this.#opts.count !== undefined && this.#stats.published >= this.#opts.count;
  }

  #sourceName(): string {
    const s = this.#opts.source;
    return s.kind === "device" ? s.device : s.url;
  }
}
