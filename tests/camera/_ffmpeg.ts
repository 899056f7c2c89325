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
        ...testSource(size),
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

/** Debian's RTSP server (package rtsp-server-perl): sources ANNOUNCE/RECORD to it, clients PLAY. */
const RTSP_SERVER = "/usr/bin/rtsp-server-perl";

/** Whether a local RTSP server can be started here. */
export function hasRtspServer(): boolean {
  try {
    return Deno.statSync(RTSP_SERVER).isFile;
  } catch {
    return false;
  }
}

/** An RTSP camera: Debian's RTSP server with ffmpeg publishing a test pattern to it. */
export interface RtspCamera extends AsyncDisposable {
  /** Where a client plays it: `rtsp://127.0.0.1:<port>/cam`. */
  readonly url: string;
}

/**
 * Starts rtsp-server-perl on free loopback ports and ffmpeg pushing a 10 fps 160×120 test pattern
 * (MPEG-4) to it. The server offers its clients UDP only (`-rtsp_transport udp`).
 */
export function rtspCamera(): RtspCamera {
  const clientPort = freePort(), sourcePort = freePort();
  const rtpStart = 20_000 + 2 * Math.floor(Math.random() * 10_000);
  const spawn = (cmd: string, args: string[]) =>
    new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
  const server = spawn(RTSP_SERVER, [
    "--clientport",
    String(clientPort),
    "--serverport",
    String(sourcePort),
    "--client_listen_address",
    "127.0.0.1",
    "--source_listen_address",
    "127.0.0.1",
    "--rtp_start_port",
    String(rtpStart),
  ]);
  const pushArgs = [
    ...testSource("160x120"),
  ];
  let pusher: Deno.ChildProcess | undefined;
  let stopped = false;
  // The server takes a moment to listen: the publisher retries until it is in.
  const publishing = (async () => {
    while (!stopped) {
      pusher = spawn("ffmpeg", [
        ...pushArgs,
        "-c:v",
        "mpeg4",
        "-f",
        "rtsp",
        `rtsp://127.0.0.1:${sourcePort}/cam`,
      ]);
      await pusher.status;
      if (!stopped) await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const stop = async () => {
    stopped = true;
    for (const c of [pusher, server]) {
      try {
        c?.kill("SIGKILL");
      } catch { /* gone already */ }
    }
    await Promise.all([publishing, server.status]);
  };
  return { url: `rtsp://127.0.0.1:${clientPort}/cam`, [Symbol.asyncDispose]: stop };
}

/** ffmpeg's input flags for its generated test pattern at `size` (WxH), 10 frames/s in real time. */
function testSource(size: string): string[] {
  return ["-hide_banner", "-loglevel", "quiet", "-re", "-f", "lavfi", "-i", `testsrc=size=${size}:rate=10`];
}
