/**
 * Well-formed result and anomaly messages (src/stream/messages.ts types) for bridge tests, which
 * publish them on a real bus instead of running the scoring service.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  anomaliesSubject,
  type AnomalyMessage,
  anomalyMsgId,
  encodeMessage,
  Header,
  type ResultMessage,
  resultsSubject,
} from "../../src/stream/mod.ts";
import { headers } from "@nats-io/transport-node";

/** A scored result. */
export function result(station: string, frameId: string, score: number, threshold = 2): ResultMessage {
  const now = new Date().toISOString();
  return {
    station,
    frameId,
    capturedAt: now,
    receivedAt: now,
    scoredAt: now,
    score,
    textScore: 0.5,
    patchScore: score,
    threshold,
    anomalous: score >= threshold,
    profileVersion: 3,
    model: { id: "tiny", hash: "0".repeat(64) },
    latencyMs: 12.5,
  };
}

/** The anomaly event of an anomalous result. */
export function anomaly(station: string, frameId: string, score = 3.5): AnomalyMessage {
  return {
    ...result(station, frameId, score, 2),
    score,
    threshold: 2,
    anomalous: true,
    profileVersion: 3,
    frameWidth: 160,
    frameHeight: 120,
    map: { width: 160, height: 120, min: 0, max: 1, level: 0.6, regions: [] },
    heatmap: {
      store: "object-store",
      bucket: "adp-heatmaps",
      key: `${station}/${frameId}.png`,
      width: 160,
      height: 120,
      contentType: "image/png",
    },
  };
}

/** Publishes a result on `adp.results.<station>`. */
export function publishResult(nc: NatsConnection, r: ResultMessage): void {
  nc.publish(resultsSubject(r.station), encodeMessage(r));
}

/** Publishes an anomaly event with its de-duplication id, as the service does. */
export function publishAnomaly(nc: NatsConnection, a: AnomalyMessage): void {
  const h = headers();
  h.set(Header.msgId, anomalyMsgId(a.station, a.frameId));
  nc.publish(anomaliesSubject(a.station), encodeMessage(a), { headers: h });
}

/** Polls `check` until it holds. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
