/**
 * Cameras in: live sources read through ffmpeg (RTSP, HTTP MJPEG, video files, V4L2 devices),
 * published on `adp.frames.<station>` at a rate or per PLC trigger, with reconnection.
 *
 * @example Publish a video file as a camera, then stop
 * ```ts ignore
 * import { startCapture } from "./mod.ts";
 * const cam = await startCapture(nc, { station: "line-1", source: { kind: "url", url: "line.mp4" }, fps: 5 });
 * console.log(cam.stats());
 * await cam.stop();
 * ```
 *
 * @module
 */
export { startCapture } from "./capture.ts";
export type { Capture, CaptureOptions, CaptureStats } from "./capture.ts";
export { ffmpegArgs, isFileSource, runFfmpeg } from "./ffmpeg_source.ts";
export { RTSP_TRANSPORTS } from "./ffmpeg_source.ts";
export type { CameraSource, FfmpegEncodeOptions, FfmpegRun, RtspTransport } from "./ffmpeg_source.ts";
export { JpegSplitter } from "./jpeg_splitter.ts";
export type { JpegSplitterOptions } from "./jpeg_splitter.ts";
