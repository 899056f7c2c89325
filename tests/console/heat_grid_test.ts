import assert from "node:assert/strict";
import { summarizeMap } from "../../src/stream/mod.ts";
import { heatScaleOf } from "../../src/console/mod.ts";

Deno.test("summarizeMap() sends a coarse grid, max-pooled and quantised between the map's min and max", () => {
  const size = { width: 64, height: 64 };
  const map = new Float32Array(64 * 64).fill(0.1);
  map[10 * 64 + 40] = 0.5; // one hot cell: its 2×2 block of the 32×32 grid keeps the peak
  const s = summarizeMap(map, size, { width: 640, height: 640 });
  assert.deepEqual([s.grid!.width, s.grid!.height], [32, 32]);
  const bytes = Uint8Array.from(atob(s.grid!.data), (c) => c.charCodeAt(0));
  assert.equal(bytes.length, 32 * 32);
  assert.equal(bytes[5 * 32 + 20], 255);
  assert.equal(bytes.filter((b) => b !== 0).length, 1);
  // Small maps are sent whole.
  const small = summarizeMap(Float32Array.from({ length: 12 }, (_, i) => i), { width: 4, height: 3 }, size);
  assert.deepEqual([small.grid!.width, small.grid!.height], [4, 3]);
});

Deno.test("heatScaleOf() puts the threshold at half of the scale, whatever the station", () => {
  for (const threshold of [3, 4.5, 12]) {
    const scale = heatScaleOf({ version: 1, threshold, fusion: { patchMean: 0.3, patchStd: 0.02 } });
    assert.equal(scale.threshold / scale.top, 0.5);
  }
});
