/**
 * Generated camera streams for tests, made by ffmpeg from its lavfi test source: a short video file,
 * and an HTTP MJPEG camera (ffmpeg serving multipart JPEG on a loopback port) that can be killed and
 * started again on the same port.
 *
 * @module
 */
import { join } from "node:path";

/** A free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Writes a `seconds`-long 160×120 test video at `fps` into `dir`; returns its path. */
export async function makeVideo(dir: string, seconds: number, fps = 10): Promise<string> {
  const path = join(dir, "line.mp4");
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc=duration=${seconds}:size=160x120:rate=${fps}`,
      "-c:v",
      "mpeg4",
      path,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`ffmpeg could not write ${path}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return path;
}

/** An HTTP MJPEG camera served by ffmpeg. */
export interface MjpegCamera extends AsyncDisposable {
  readonly url: string;
  /** Kills the server (the stream drops). */
  kill(): Promise<void>;
  /** Starts the server again on the same port. */
  start(): void;
}

/** Serves a 10 fps 160×120 test pattern as HTTP MJPEG at `http://127.0.0.1:<port>/cam.mjpg`. */
export function mjpegCamera(size = "160x120"): MjpegCamera {
  const port = freePort();
  const url = `http://127.0.0.1:${port}/cam.mjpg`;
  let child: Deno.ChildProcess | undefined;
  const kill = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    try {
      c.kill("SIGKILL");
    } catch { /* gone already */ }
    await c.status;
  };
  const start = () => {
    child = new Deno.Command("ffmpeg", {
      args: [
        "-hide_banner",
        "-loglevel",
        "quiet",
        "-re",
        "-f",
        "lavfi",
        "-i",
        `testsrc=size=${size}:rate=10`,
        "-c:v",
        "mjpeg",
        "-q:v",
        "5",
        "-f",
        "mpjpeg",
        "-listen",
        "1",
        url,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  };
  start();
  return { url, kill, start, [Symbol.asyncDispose]: kill };
}
