/**
 * The decode worker: PNG/JPEG bytes to RGB8 and to the model's inputs (`prepareFrame`), and heat-map
 * overlays to PNG, off the main thread where the batcher and the model live. Messages are `WorkerRequest`s; every request gets exactly one
 * reply with its id; a failure carries the error's class name and code (`describeFailure`), from
 * which the pool rebuilds a typed error.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { Image } from "imagescript";
import { decodeImage, type Rgb8Image } from "../image/mod.ts";
import { prepareFrame } from "../adp/mod.ts";
import { previewForOverlay, renderOverlay } from "./heatmap.ts";
import type { WorkerReply, WorkerRequest } from "./decode_pool.ts";
import { describeFailure } from "./_worker_failure.ts";

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  try {
    if (req.kind === "decode") {
      const image = await decodeImage(req.bytes, { maxPixels: req.maxPixels });
      const data = owned(image.data);
      const prepared = req.prepare ? prepareFrame({ ...image, data }, req.prepare) : undefined;
      // Without keepImage only what scoring and the heat map need leaves the worker.
      const kept = req.keepImage ? data : new Uint8Array(0);
      const transfer: ArrayBuffer[] = req.keepImage ? [data.buffer] : [];
      const sent = new Set<Uint8Array>([kept]);
      if (prepared) {
        transfer.push(prepared.clipPixels.buffer as ArrayBuffer);
        for (const [key, input] of Object.entries(prepared.patchInputs)) {
          // An input at the frame's own size is the frame itself: send it once.
          if (sent.has(input.data)) continue;
          const own = owned(input.data);
          prepared.patchInputs[key] = { ...input, data: own };
          transfer.push(own.buffer);
          sent.add(own);
        }
      }
      let preview: Rgb8Image | undefined;
      if (req.previewSide > 0) {
        const small = previewForOverlay({ ...image, data }, req.previewSide);
        preview = { ...small, data: small.data === data ? data.slice() : small.data };
        transfer.push(preview.data.buffer as ArrayBuffer);
      }
      const message: WorkerReply = {
        id: req.id,
        ok: true,
        width: image.width,
        height: image.height,
        data: kept,
        ...(prepared ? { prepared } : {}),
        ...(preview ? { preview } : {}),
      };
      reply(message, transfer);
    } else {
      const overlay = renderOverlay(req.frame, req.map, { width: req.mapWidth, height: req.mapHeight }, {
        maxSide: req.maxSide,
      });
      const image = new Image(overlay.width, overlay.height);
      image.bitmap.set(overlay.rgba);
      // Level 1: heat maps are looked at, not archived; fast beats small here.
      const png = owned(await image.encode(1));
      const message: WorkerReply = {
        id: req.id,
        ok: true,
        width: overlay.width,
        height: overlay.height,
        data: png,
      };
      reply(message, [png.buffer]);
    }
  } catch (error) {
    reply({ id: req.id, ok: false, failure: describeFailure(error) }, []);
  }
};

// Loaded: the pool starts counting request budgets from here.
self.postMessage({ ready: true });

/** `bytes` in an ArrayBuffer of its own, so a transfer moves exactly these bytes. */
function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength;
  return whole ? bytes as Uint8Array<ArrayBuffer> : bytes.slice();
}

function reply(message: WorkerReply, transfer: ArrayBuffer[]): void {
  try {
    self.postMessage(message, transfer);
  } catch {
    // WebAssembly memory cannot be detached: send a copy instead.
    self.postMessage(message);
  }
}
