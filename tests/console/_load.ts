/**
 * The console under load, measured in the browser test's run: cameras publish small JPEG frames on
 * many stations at a fixed rate; the stations page records (in the page, with a MutationObserver)
 * when each tile starts showing a frame's verdict, and Chromium's own metrics say how much of the
 * wall time its main thread spent running tasks. Figures are printed, never asserted as bounds
 * (timing belongs to no test); only the busy share is checked against the 50 %.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Image } from "imagescript";
import type { Page } from "puppeteer-core";
import { decodeResult, framesSubject, RESULTS_WILDCARD } from "../../src/stream/mod.ts";
import { quantile } from "../../bench/soak/service.ts";
import { bottle, sendFrame } from "../stream/_fixture.ts";

/** What a load run measured. */
export interface LoadFigures {
  /** Frames published. */
  published: number;
  /** Results the service sent for them (scored or answered with a reason). */
  answered: number;
  /** Of those, answered with a reason instead of a score, by reason. */
  reasons: Record<string, number>;
  /** Frames whose verdict a tile showed (a tile shows the latest: a frame overtaken before the next redraw never shows). */
  shown: number;
  /** Published → shown on the page, ms: median and 99th percentile. */
  p50Ms: number;
  p99Ms: number;
  /** Of that, published → the result on the bus (the service's part), ms, for the frames shown. */
  busP50Ms: number;
  busP99Ms: number;
  /** And the result on the bus → shown (the console's and the browser's part), ms. */
  pageP50Ms: number;
  pageP99Ms: number;
  /** Share of the wall time the page's main thread ran tasks (CDP TaskDuration). */
  busyShare: number;
  /** The machine's 1-minute load average at the end. */
  loadAverage: number;
}

/** Small JPEG versions of good bottle frames, as a line camera at a modest resolution sends them. */
async function jpegFrames(n: number, size: number): Promise<Uint8Array[]> {
  const frames = [];
  for (let i = 0; i < n; i++) {
    const image = await Image.decode(await bottle(20 + i));
    frames.push(await image.resize(size, size).encodeJPEG(85));
  }
  return frames;
}

/** Installs the observer in the page: every change of a tile's `data-frame` is stamped (epoch ms). */
async function observeTiles(page: Page): Promise<void> {
  // A string: the code runs in the page, where the DOM's types are (not in Deno's type check).
  await page.evaluate(`
    globalThis.__seen = [];
    new MutationObserver((list) => {
      const now = Date.now();
      for (const m of list) if (m.target.dataset.frame) globalThis.__seen.push([m.target.dataset.frame, now]);
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-frame"] });
  `);
}

/**
 * Publishes `fps` frames a second on each station for `seconds` and measures the stations page.
 *
 * @param page a page showing the stations
 * @param nc the cameras' connection
 * @param stations the stations to feed
 */
export async function measureLoad(
  page: Page,
  nc: NatsConnection,
  stations: string[],
  opts: { fps: number; seconds: number },
): Promise<LoadFigures> {
  const frames = await jpegFrames(4, 320);
  const publishedAt = new Map<string, number>(), answeredAt = new Map<string, number>();
  const reasons: Record<string, number> = {};
  let answered = 0;
  const results = nc.subscribe(RESULTS_WILDCARD, {
    callback: (_e, m) => {
      const r = decodeResult(m.data);
      if (!publishedAt.has(r.frameId)) return;
      answered++;
      answeredAt.set(r.frameId, Date.now());
      if (r.reason) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
    },
  });
  await observeTiles(page);
  const before = await page.metrics();
  let tick = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      for (const station of stations) {
        const id = `load-${station}-${tick}`;
        publishedAt.set(id, Date.now());
        sendFrame(nc, framesSubject(station), frames[tick % frames.length], id);
      }
      if (++tick >= opts.fps * opts.seconds) {
        clearInterval(timer);
        done();
      }
    }, 1000 / opts.fps);
  });
  // Let the last answers reach the page before the figures are read.
  await new Promise((r) => setTimeout(r, 3000));
  const after = await page.metrics();
  results.unsubscribe();
  const seen = await page.evaluate(`globalThis.__seen`) as [string, number][];
  const shown = seen.filter(([id]) => publishedAt.has(id) && answeredAt.has(id));
  const span = (pick: (id: string, at: number) => number) => shown.map(([id, at]) => pick(id, at));
  const total = span((id, at) => at - publishedAt.get(id)!);
  const bus = span((id) => answeredAt.get(id)! - publishedAt.get(id)!);
  const onPage = span((id, at) => at - answeredAt.get(id)!);
  return {
    published: publishedAt.size,
    answered,
    reasons,
    shown: shown.length,
    p50Ms: quantile(total, 0.5),
    p99Ms: quantile(total, 0.99),
    busP50Ms: quantile(bus, 0.5),
    busP99Ms: quantile(bus, 0.99),
    pageP50Ms: quantile(onPage, 0.5),
    pageP99Ms: quantile(onPage, 0.99),
    busyShare: (after.TaskDuration! - before.TaskDuration!) / (after.Timestamp! - before.Timestamp!),
    loadAverage: Deno.loadavg()[0],
  };
}
