/**
 * The demo's view of the service's output: every result and anomaly event of the station printed
 * as it arrives, and counted, so the demo can wait until every frame is answered.
 *
 * @module
 */
import { basename, join, relative } from "node:path";
import { copyFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  anomaliesSubject,
  type AnomalyMessage,
  decodeAnomaly,
  decodeResult,
  type ResultMessage,
  resultsSubject,
} from "../stream/mod.ts";
import type { DemoFrame } from "./_demo_camera.ts";
import { fixed, say, unlessInterrupted } from "./_demo_console.ts";

/** Results and anomaly events received, by frame id. */
export interface Tally {
  /** Results of the streamed frames. */
  results: Map<string, ResultMessage>;
  /** Anomaly events, counted once printed. */
  anomalies: Map<string, AnomalyMessage>;
}

/** What {@linkcode followEvents} needs to know of the run. */
export interface FollowOptions {
  /** The station streamed. */
  station: string;
  /** The service's state dir, where file heat maps are. */
  stateDir: string;
  /** Where heat maps are copied to be kept. */
  heatmapOut: string;
  /** The streamed frames by id, numbered from 1; results of other frames are not printed. */
  frameOf: Map<string, { n: number; frame: DemoFrame }>;
  /** Frames streamed. */
  total: number;
}

/** Follows results and anomaly events of the station, printing each as it arrives. */
export function followEvents(
  nc: NatsConnection,
  opts: FollowOptions,
): { tally: Tally; changed: EventTarget } {
  const { station, stateDir, heatmapOut, frameOf, total } = opts;
  const tally: Tally = { results: new Map(), anomalies: new Map() };
  const changed = new EventTarget();
  const label = (id: string) => {
    const f = frameOf.get(id);
    return f ? `${String(f.n).padStart(2)}/${total}  ${f.frame.source.padEnd(28)}` : `      ${id.padEnd(28)}`;
  };
  nc.subscribe(resultsSubject(station), {
    callback: (_error, msg) => {
      const r = decodeResult(msg.data);
      if (!frameOf.has(r.frameId)) return; // enrollment frames: answered "no-profile" while there was none
      tally.results.set(r.frameId, r);
      if (r.score === null) {
        say(`${label(r.frameId)}  not scored: ${r.reason}: ${r.error}`);
      } else {
        const verdict = r.anomalous ? "ANOMALOUS" : "ok";
        say(
          `${label(r.frameId)}  ${fixed(r.score).padStart(7)}  ${r.anomalous ? "≥" : "<"} ${
            fixed(r.threshold).padStart(6)
          }  ${verdict.padEnd(9)}  ${r.latencyMs.toFixed(0).padStart(5)} ms`,
        );
      }
      changed.dispatchEvent(new Event("change"));
    },
  });
  nc.subscribe(anomaliesSubject(station), {
    callback: (_error, msg) => {
      const a = decodeAnomaly(msg.data);
      if (!frameOf.has(a.frameId)) return;
      const r = a.map.regions[0];
      const where = r
        ? `top region ${r.width}×${r.height} px at (${r.x}, ${r.y}), peak ${r.peak.toFixed(2)}, ${
          (r.area * 100).toFixed(1)
        }% of the frame`
        : "no region above the map's level";
      (async () => {
        let heat = `no heat map (${a.heatmapError ?? "none made"})`;
        if (a.heatmap?.store === "file") {
          const kept = join(heatmapOut, basename(a.heatmap.key));
          await copyFile(join(stateDir, a.heatmap.key), kept).then(
            () => heat = `heat map ${relative(Deno.cwd(), kept)}`,
            (error) => heat = `heat map ${a.heatmap!.key} not copied: ${error.message}`,
          );
        } else if (a.heatmap) {
          heat = `heat map ${a.heatmap.bucket}:${a.heatmap.key}`;
        }
        say(`${" ".repeat(6)}↳ anomaly event for ${a.frameId}: ${where}; ${heat}`);
        // Counted once printed, with its heat map in place.
        tally.anomalies.set(a.frameId, a);
        changed.dispatchEvent(new Event("change"));
      })();
    },
  });
  return { tally, changed };
}

/** Resolves when `done()` holds, re-checked on every change; rejects after `timeoutMs`. */
export function waitFor(
  changed: EventTarget,
  done: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  return unlessInterrupted(
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        finish();
        resolve();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        changed.removeEventListener("change", check);
      };
      changed.addEventListener("change", check);
      check();
    }),
  );
}
