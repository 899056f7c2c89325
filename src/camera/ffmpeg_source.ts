/**
 * A camera read through Debian's ffmpeg, run as a child process without a shell: the source (an RTSP
 * or HTTP MJPEG URL, a video file, a V4L2 device) is decoded and re-encoded as JPEG images written to
 * a pipe, which {@linkcode JpegSplitter} cuts into whole frames.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { JpegSplitter } from "./jpeg_splitter.ts";

/** Where frames come from. */
export type CameraSource =
  /**
   * `rtsp://`, `http(s)://` (MJPEG or any stream ffmpeg reads) or a video file path. RTSP runs over
   * TCP unless `rtspTransport` says `udp` (some RTSP servers offer only UDP).
   */
  | { kind: "url"; url: string; loop?: boolean; rtspTransport?: RtspTransport }
  /** A V4L2 capture device such as `/dev/video0`. */
  | { kind: "device"; device: string };

/** How RTSP media travel: interleaved in the TCP connection (no loss, passes firewalls) or as UDP. */
export type RtspTransport = "tcp" | "udp";

/** The RTSP transports, for a flag's choices. */
export const RTSP_TRANSPORTS: readonly RtspTransport[] = ["tcp", "udp"];

/** How ffmpeg encodes what it reads. */
export interface FfmpegEncodeOptions {
  /** Frames per second to emit (ffmpeg's fps filter); all decoded frames when absent. */
  fps?: number;
  /** JPEG quality scale of ffmpeg's `-q:v`: 2 (best, largest) … 31 (worst, smallest). @default 4 */
  quality?: number;
  /** Scale frames to this width (height keeps the aspect ratio); unscaled when absent. */
  width?: number;
}

const URL_SCHEME_REGEXP = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Whether a source is a file (read at its own frame rate) rather than a live stream. */
export function isFileSource(source: CameraSource): boolean {
  return source.kind === "url" && (!URL_SCHEME_REGEXP.test(source.url) || source.url.startsWith("file://"));
}

/**
 * The ffmpeg arguments that read `source` and write JPEG images to standard output.
 *
 * @param source the camera
 * @param opts rate, quality and size of the frames
 * @returns the argument list (no shell is involved: each entry is one argument)
 * @throws {ConfigError} for a quality or width out of range
 *
 * @example A file replayed in a loop at 5 frames per second
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { ffmpegArgs } from "./ffmpeg_source.ts";
 *
 * const args = ffmpegArgs({ kind: "url", url: "line.mp4", loop: true }, { fps: 5 });
 * ok(args.join(" ").includes("-re -stream_loop -1 -i line.mp4"));
 * ok(args.join(" ").includes("-vf fps=5 -f image2pipe -c:v mjpeg"));
 * ```
 */
export function ffmpegArgs(source: CameraSource, opts: FfmpegEncodeOptions = {}): string[] {
  const quality = opts.quality ?? 4;
  if (!Number.isInteger(quality) || quality < 2 || quality > 31) {
    throw new ConfigError(`JPEG quality must be an integer from 2 to 31: got ${quality}`);
  }
  if (opts.width !== undefined && (!Number.isInteger(opts.width) || opts.width < 16 || opts.width > 16384)) {
    throw new ConfigError(`Frame width must be an integer from 16 to 16384: got ${opts.width}`);
  }
  const args = ["-hide_banner", "-nostdin", "-loglevel", "error"];
  if (source.kind === "device") args.push("-f", "v4l2", "-i", source.device);
  else if (isFileSource(source)) {
    args.push("-re", ...(source.loop ? ["-stream_loop", "-1"] : []), "-i", source.url);
  } else if (source.url.startsWith("rtsp://") || source.url.startsWith("rtsps://")) {
    args.push("-rtsp_transport", source.rtspTransport ?? "tcp", "-i", source.url);
  } else args.push("-i", source.url);
  const filters = [
    ...(opts.fps ? [`fps=${opts.fps}`] : []),
    ...(opts.width ? [`scale=${opts.width}:-2`] : []),
  ];
  if (filters.length) args.push("-vf", filters.join(","));
  args.push("-f", "image2pipe", "-c:v", "mjpeg", "-q:v", String(quality), "-an", "pipe:1");
  return args;
}

/** One run of ffmpeg: frames until the source ends, drops or is stopped. */
export interface FfmpegRun extends AsyncIterable<Uint8Array> {
  /** The exit status once ffmpeg ended. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** The end of ffmpeg's error output (why a stream dropped). */
  stderrTail(): string;
  /** Stops ffmpeg (SIGTERM, then SIGKILL after 2 s); resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * Starts ffmpeg on `args` and yields the JPEG images it writes.
 *
 * @param args from {@linkcode ffmpegArgs}
 * @param opts the binary (default `ffmpeg` on PATH)
 * @returns the running process as an iterable of frames
 * @throws {ConfigError} when ffmpeg is not installed
 */
export function runFfmpeg(args: string[], opts: { binary?: string } = {}): FfmpegRun {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(opts.binary ?? "ffmpeg", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ConfigError("ffmpeg is not installed: install it with `apt-get install ffmpeg`", {
        cause: error,
      });
    }
    throw error;
  }
  let tail = "";
  const decoder = new TextDecoder();
  const stderrDone = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (tail = (tail + decoder.decode(c)).slice(-2000)) }),
  ).catch(() => {});
  let exitedNow = false;
  const exited = child.status.then(async (s) => {
    exitedNow = true;
    await stderrDone;
    return s;
  });
  const stop = async () => {
    if (!exitedNow) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone already */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone already */ }
      }, 2000);
      await child.status.catch(() => {});
      clearTimeout(timer);
    }
    await exited;
  };
  return {
    exited,
    stderrTail: () => tail.trim(),
    stop,
    async *[Symbol.asyncIterator]() {
      const splitter = new JpegSplitter();
      try {
        for await (const chunk of child.stdout) yield* splitter.push(chunk);
      } finally {
        await stop();
      }
    },
  };
}
