/**
 * The synthesis worker of {@linkcode SynthesisWorker}: each request gets one reply with its id, the
 * pseudo-anomalies of `synthesizePseudoAnomalies` (their buffers moved), or the error's message.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { Rgb8Image } from "../../image/mod.ts";
import { synthesizePseudoAnomalies } from "./synthesizer.ts";
import type { SynthesisReply, SynthesisRequest } from "./synthesis_worker.ts";

/** Each request's normals, as they arrive before its options. */
const normalsOf = new Map<number, Rgb8Image[]>();

self.onmessage = (event: MessageEvent<SynthesisRequest>) => {
  const request = event.data;
  const { id } = request;
  if ("normal" in request) {
    normalsOf.set(id, [...normalsOf.get(id) ?? [], request.normal]);
    return;
  }
  const normals = normalsOf.get(id) ?? [];
  normalsOf.delete(id);
  const { opts } = request;
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
