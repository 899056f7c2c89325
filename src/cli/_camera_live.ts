/**
 * `adp camera --url … | --device …`: a live camera read through ffmpeg, free-running at `--fps` or
 * one frame per PLC trigger (`--trigger`), until Ctrl-C, `--count` or the end of a file.
 *
 * @module
 */
import { type CameraSource, RTSP_TRANSPORTS, type RtspTransport, startCapture } from "../camera/mod.ts";
import { choiceFlag, intFlag, type ParsedArgs, UsageError } from "./_command.ts";
import { connectFromFlags } from "./_nats.ts";

/** Help text of the live-camera flags. */
export const LIVE_CAMERA_USAGE = `
Live cameras (decoded by ffmpeg, which must be installed: apt-get install ffmpeg):
adp camera --url URL|FILE --station S [--fps 5 | --trigger] [--loop] [--quality 4] [--width W]
adp camera --device /dev/videoN --station S [...]
  --url          rtsp://…, http://… (MJPEG), or a video file (played at its own rate)
  --rtsp-transport tcp|udp   how RTSP media travel (default tcp; udp for servers that offer only it)
  --device       a V4L2 device (USB camera)
  --trigger      publish one frame per message on adp.trigger.<station>; its payload (the part id, or
                 {"partId": "…"}) becomes the frame id; no frame in time → an error result
  --trigger-timeout MS   how long a trigger waits for a frame (default 2000)
  --quality      JPEG quality scale 2 (best) … 31 (smallest) (default 4)
  --width        scale frames to this width
The stream is reopened with backoff (250 ms doubling to 10 s) whenever it drops or stalls for 5 s;
reconnects and gaps are logged and summed up at the end.`;

/** Whether the flags name a live source. */
export function isLiveCamera(args: ParsedArgs): boolean {
  return args.values.url !== undefined || args.values.device !== undefined;
}

/** Runs a live camera until Ctrl-C, `--count` or the end of a file. */
export async function runLiveCamera(args: ParsedArgs, station: string): Promise<void> {
  const v = args.values;
  if (v.url !== undefined && v.device !== undefined) throw new UsageError("Give --url or --device, not both");
  if (v.dir !== undefined) throw new UsageError("Give --dir or a live source (--url, --device), not both");
  if (v.trigger && v.fps !== undefined) throw new UsageError("Give --fps or --trigger, not both");
  const source: CameraSource = v.device !== undefined ? { kind: "device", device: String(v.device) } : {
    kind: "url",
    url: String(v.url),
    loop: Boolean(v.loop),
    rtspTransport: choiceFlag<RtspTransport>(args, "rtsp-transport", RTSP_TRANSPORTS, "tcp"),
  };
  const fps = Number(v.fps ?? 5);
  if (!(fps > 0 && fps <= 1000)) throw new UsageError(`--fps must be a number in (0, 1000]: got ${v.fps}`);
  const nc = await connectFromFlags(args, { name: `adp camera ${station}`, persistent: true });
  const cam = await startCapture(nc, {
    station,
    source,
    fps,
    trigger: Boolean(v.trigger),
    triggerTimeoutMs: intFlag(args, "trigger-timeout", 2000, [10, 600_000]),
    count: v.count === undefined ? undefined : intFlag(args, "count", 1, [1, Number.MAX_SAFE_INTEGER]),
    idPrefix: v["id-prefix"] as string | undefined,
    quality: intFlag(args, "quality", 4, [2, 31]),
    width: v.width === undefined ? undefined : intFlag(args, "width", 0, [16, 16384]),
  });
  const stop = () => void cam.stop();
  Deno.addSignalListener("SIGINT", stop);
  console.error(
    `adp camera ${station}: reading ${v.device ?? v.url}; ${
      v.trigger ? `one frame per trigger on adp.trigger.${station}` : `${fps} frames/s`
    } (Ctrl-C stops)`,
  );
  try {
    await cam.closed;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    await nc.drain().catch(() => nc.close());
  }
  const s = cam.stats();
  console.log(
    `published ${s.published} frames of ${station}; refused ${s.refused}; reconnects ${s.reconnects}; ` +
      `gaps ${s.gaps} (${s.gapMs} ms, ~${s.missedFrames} frames missed); triggers ${s.triggers} ` +
      `(${s.triggerErrors} answered with an error)`,
  );
}
