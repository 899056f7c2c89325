/**
 * The synthesis worker of {@linkcode SynthesisWorker}: each request gets one reply with its id, the
 * pseudo-anomalies of `synthesizePseudoAnomalies` (their buffers moved), or the error's message.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { synthesizePseudoAnomalies } from "./synthesizer.ts";
import type { SynthesisReply, SynthesisRequest } from "./synthesis_worker.ts";

self.onmessage = (event: MessageEvent<SynthesisRequest>) => {
  const { id, normals, opts } = event.data;
  let reply: SynthesisReply;
  try {
    reply = { id, ok: true, anomalies: synthesizePseudoAnomalies(normals, opts) };
  } catch (error) {
    reply = { id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  const buffers = reply.ok
    ? reply.anomalies.flatMap((a) => [a.image.data.buffer, a.mask.buffer]) as ArrayBuffer[]
    : [];
  // Moved when each image and mask owns its buffer, cloned otherwise.
  self.postMessage(reply, new Set(buffers).size === buffers.length ? buffers : []);
};
