/** Map summaries and the overlay: regions in frame pixels, hottest first, and a bounded output size. */
import assert from "node:assert/strict";
import { MAX_REGIONS, renderOverlay, summarizeMap } from "../../src/stream/heatmap.ts";

Deno.test("summarizeMap() finds separate hot regions, scales them to the frame and orders them by peak", () => {
  const w = 32, h = 16;
  const map = new Float32Array(w * h);
  const blob = (x0: number, y0: number, size: number, v: number) => {
    for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) map[y * w + x] = v;
  };
  blob(2, 2, 3, 0.8);
  blob(20, 8, 4, 1);
  const s = summarizeMap(map, { width: w, height: h }, { width: 640, height: 320 });
  assert.equal(s.regions.length, 2);
  assert.deepEqual(s.regions[0], { x: 400, y: 160, width: 80, height: 80, peak: 1, area: 16 / (w * h) });
  assert.deepEqual({ x: s.regions[1].x, y: s.regions[1].y, peak: Math.fround(s.regions[1].peak) }, {
    x: 40,
    y: 40,
    peak: Math.fround(0.8),
  });
  assert.equal(s.max, 1);
  assert.equal(s.min, 0);
});

Deno.test("summarizeMap() reports at most five regions and none for a flat or non-finite map", () => {
  const map = new Float32Array(100);
  for (let i = 0; i < 10; i++) map[i * 10 + (i % 2) * 5] = 1 + i;
  assert.equal(
    summarizeMap(map, { width: 10, height: 10 }, { width: 10, height: 10 }).regions.length,
    MAX_REGIONS,
  );
  assert.deepEqual(
    summarizeMap(new Float32Array(4), { width: 2, height: 2 }, { width: 4, height: 4 }).regions,
    [],
  );
  const nan = Float32Array.of(NaN, NaN, NaN, NaN);
  assert.deepEqual(summarizeMap(nan, { width: 2, height: 2 }, { width: 4, height: 4 }).regions, []);
});

Deno.test("renderOverlay() reduces large frames to maxSide and keeps the aspect ratio", () => {
  const frame = { width: 1000, height: 500, data: new Uint8Array(1000 * 500 * 3) };
  const out = renderOverlay(frame, new Float32Array(4), { width: 2, height: 2 }, { maxSide: 200 });
  assert.deepEqual([out.width, out.height, out.rgba.length], [200, 100, 200 * 100 * 4]);
  const small = renderOverlay({ width: 4, height: 2, data: new Uint8Array(24) }, new Float32Array(1), {
    width: 1,
    height: 1,
  });
  assert.deepEqual([small.width, small.height], [4, 2]);
});
