/**
 * The patch memory on real frames through the proxy backbone: a frame already in the memory is at
 * distance ≈ 0 everywhere, and a foreign patch pasted into a normal frame is where its distances peak.
 */
import assert from "node:assert/strict";
import { openOnnxExtractor } from "../../../src/adp/patch/onnx_extractor.ts";
import { imageScore, PatchMemory } from "../../../src/adp/patch/patch_memory.ts";
import { loadImage } from "../../../src/eval/datasets.ts";
import { resizeBilinear } from "../../../src/image/resize_bilinear.ts";
import { ConfigError, ShapeError } from "../../../src/errors.ts";
import { Random } from "../../../src/random.ts";
import { needsShared, sharedPath } from "../../_shared.ts";

const SESSION = { device: "cpu" as const, threads: 1 };

Deno.test({
  name: "PatchMemory scores a frame of the memory ≈ 0 everywhere and peaks on a pasted foreign patch",
  ...needsShared,
  async fn() {
    const extractor = await openOnnxExtractor(sharedPath("models/proxy/backbone.json"), SESSION);
    try {
      const normal = extractor.prepare(
        await loadImage(sharedPath("datasets/mvtec-ad/bottle/train/good/000.png")),
      );
      const other = extractor.prepare(
        await loadImage(sharedPath("datasets/mvtec-ad/bottle/train/good/001.png")),
      );
      const memory = await PatchMemory.create(await extractor.extract([normal, other]), { session: SESSION });
      try {
        assert.equal(memory.size, 2 * 196);
        const same = await memory.score(await extractor.extract([normal]));
        assert.ok(Math.max(...same.distances) < 1e-4, `largest distance ${Math.max(...same.distances)}`);

        // A 40×40 piece of a magnetic tile pasted at rows 40–80, columns 136–176 of the 224² frame:
        // grid rows 2.5–5, columns 8.5–11 (stride 16).
        const tile = await loadImage(sharedPath("datasets/magnetic-tile/tile/test/good/exp1_num_118871.jpg"));
        const piece = resizeBilinear({ ...tile, channels: 3 }, { width: 40, height: 40 });
        const pasted = { ...normal, data: normal.data.slice() };
        for (let y = 0; y < 40; y++) {
          pasted.data.set(piece.data.subarray(y * 120, (y + 1) * 120), ((40 + y) * 224 + 136) * 3);
        }
        const scores = await memory.score(await extractor.extract([pasted]));
        const d = scores.distances;
        const peak = d.indexOf(Math.max(...d));
        const [row, col] = [Math.floor(peak / 14), peak % 14];
        assert.ok(row >= 2 && row <= 5 && col >= 8 && col <= 11, `peak at cell ${row},${col}`);
        assert.equal(scores.imageScores[0], d[peak]);
        // Far from the paste the frame is still its normal self.
        assert.ok(d[13 * 14] < 0.05 && d[0] < 0.05, `corners ${d[0]}, ${d[13 * 14]}`);
      } finally {
        await memory.dispose();
      }
    } finally {
      await extractor.dispose();
    }
  },
});

Deno.test("PatchMemory finds exact nearest cosines on hand-made unit vectors", async () => {
  // Memory: the x and y axes of the plane. Queries: x (cos 1), the diagonal (cos √½), −x (cos 0 to y).
  const bank = { n: 1, gridH: 1, gridW: 2, dim: 2, data: Float32Array.of(1, 0, 0, 1) };
  const memory = await PatchMemory.create(bank, {
    session: SESSION,
    imageScore: { kind: "topMean", count: 2 },
  });
  try {
    const d = await memory.nearestDistances(Float32Array.of(1, 0, Math.SQRT1_2, Math.SQRT1_2, -1, 0));
    assert.ok(
      Math.abs(d[0]) < 1e-6 && Math.abs(d[1] - (1 - Math.SQRT1_2)) < 1e-6 && Math.abs(d[2] - 1) < 1e-6,
    );
    const test = {
      n: 1,
      gridH: 1,
      gridW: 3,
      dim: 2,
      data: Float32Array.of(1, 0, Math.SQRT1_2, Math.SQRT1_2, -1, 0),
    };
    const [each] = await memory.scoreEach([test]);
    assert.ok(Math.abs(each.imageScores[0] - (1 + 1 - Math.SQRT1_2) / 2) < 1e-6);
    await assert.rejects(() => memory.score({ ...test, dim: 3, data: new Float32Array(9) }), ShapeError);
  } finally {
    await memory.dispose();
  }
  await assert.rejects(
    () => PatchMemory.create(bank, { session: SESSION, imageScore: { kind: "topMean", count: 0 } }),
    ConfigError,
  );
  assert.equal(imageScore(Float32Array.of(0.2, 0.9, 0.1), { kind: "max" }), Math.fround(0.9));
});

Deno.test("PatchMemory self-reference lets a frame's distant patches vouch for each other, never a patch's neighbours", async () => {
  // A 1×5 grid of 2-D patches x x y x x, and a memory holding only −x (cosine −1 to x, 0 to y).
  const x = [1, 0], y = [0, 1];
  const frame = { n: 1, gridH: 1, gridW: 5, dim: 2, data: Float32Array.from([x, x, y, x, x].flat()) };
  const bank = { n: 1, gridH: 1, gridW: 1, dim: 2, data: Float32Array.of(-1, 0) };
  const plain = await PatchMemory.create(bank, { session: SESSION });
  const radius1 = await PatchMemory.create(bank, { session: SESSION, selfRadius: 1 });
  const radius4 = await PatchMemory.create(bank, { session: SESSION, selfRadius: 4 });
  try {
    assert.deepEqual([...(await plain.score(frame)).distances], [2, 2, 1, 2, 2]);
    // Each x finds another x two or more cells away; y finds only x's (cosine 0) and keeps distance 1.
    const self = await radius1.score(frame);
    assert.deepEqual([...self.distances].map((d) => Math.round(d * 1e6) / 1e6), [0, 0, 1, 0, 0]);
    assert.equal(self.imageScores[0], 1);
    // With every other patch within the radius, the frame cannot vouch for itself at all.
    assert.deepEqual([...(await radius4.score(frame)).distances], [2, 2, 1, 2, 2]);
  } finally {
    await plain.dispose();
    await radius1.dispose();
    await radius4.dispose();
  }
  await assert.rejects(() => PatchMemory.create(bank, { session: SESSION, selfRadius: -1 }), ConfigError);
});

Deno.test("PatchMemory.scoreViews() brings each view's grid back to the frame before averaging", async () => {
  // Memory: the x axis. Frame (1×3): x, diagonal, y → distances 0, 1 − √½, 1. Its horizontal flip,
  // as a flip-equivariant backbone would see it: y, diagonal, x.
  const d = Math.SQRT1_2;
  const bank = { n: 1, gridH: 1, gridW: 1, dim: 2, data: Float32Array.of(1, 0) };
  const frame = { n: 1, gridH: 1, gridW: 3, dim: 2, data: Float32Array.of(1, 0, d, d, 0, 1) };
  const flipped = { ...frame, data: Float32Array.of(0, 1, d, d, 1, 0) };
  const memory = await PatchMemory.create(bank, { session: SESSION });
  try {
    const [merged] = await memory.scoreViews([frame, flipped], ["identity", "flipH"]);
    const expected = [0, 1 - d, 1];
    merged.distances.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `cell ${i}: ${v}`));
    assert.ok(Math.abs(merged.imageScores[0] - 1) < 1e-6);
    // A view that disagrees is averaged in: the unflipped frame passed as its own flip.
    const [mixed] = await memory.scoreViews([frame, frame], ["identity", "flipH"]);
    assert.ok(Math.abs(mixed.distances[0] - 0.5) < 1e-6 && Math.abs(mixed.distances[2] - 0.5) < 1e-6);
    await assert.rejects(() => memory.scoreViews([frame], ["identity", "flipH"]), ShapeError);
  } finally {
    await memory.dispose();
  }
});

Deno.test("PatchMemory.scoreViews() subtracts the edge excess from each ring for the image score, not the map", async () => {
  // Memory: the x axis. A 3×3 frame whose edge cells point along y (distance 1) and whose centre
  // lies at 45° (1 − √½ ≈ 0.29). With an edge excess of 0.9 the edge counts as 0.1 and the centre
  // wins the maximum; the distances (the map's) stay as measured.
  const d = Math.SQRT1_2;
  const bank = { n: 1, gridH: 1, gridW: 1, dim: 2, data: Float32Array.of(1, 0) };
  const data = new Float32Array(18);
  for (let c = 0; c < 9; c++) data.set(c === 4 ? [d, d] : [0, 1], c * 2);
  const frame = { n: 1, gridH: 3, gridW: 3, dim: 2, data };
  const plain = await PatchMemory.create(bank, { session: SESSION });
  const corrected = await PatchMemory.create(bank, { session: SESSION, edgeExcess: [0.9] });
  try {
    const [before] = await plain.scoreViews([frame], ["identity"]);
    const [after] = await corrected.scoreViews([frame], ["identity"]);
    assert.ok(Math.abs(before.imageScores[0] - 1) < 1e-6);
    assert.deepEqual(after.distances, before.distances);
    assert.deepEqual([...after.edgeOffsets!].map((x) => Math.round(x * 10) / 10), [
      0.9,
      0.9,
      0.9,
      0.9,
      0,
      0.9,
      0.9,
      0.9,
      0.9,
    ]);
    assert.ok(Math.abs(after.imageScores[0] - (1 - d)) < 1e-6);
    assert.equal(before.edgeOffsets, undefined);
  } finally {
    await plain.dispose();
    await corrected.dispose();
  }
});

Deno.test("PatchMemory's int8 search stays within the int8 rounding bound of the float32 search", async () => {
  // Random unit vectors: D = 96, 60 memory patches, 30 queries. Each int8 dot product differs from
  // the exact one by at most Σ|q|·s_m/2 + Σ|m|·s_q/2 + D·s_q·s_m/4 (s_m = max|m|/127 per memory
  // patch, s_q = the query block's range/255, zero inside it), so the largest dot product differs by
  // at most the largest such bound over the memory. A wrong scale axis misses by O(1).
  const rand = new Random(11);
  const dim = 96, size = 60, count = 30;
  const unit = (n: number) => {
    const v = Float32Array.from({ length: n * dim }, () => rand.normal());
    for (let r = 0; r < n; r++) {
      const row = v.subarray(r * dim, (r + 1) * dim);
      const norm = Math.hypot(...row);
      for (let i = 0; i < dim; i++) row[i] /= norm;
    }
    return v;
  };
  const memoryData = unit(size), queries = unit(count);
  const bank = { n: 1, gridH: size, gridW: 1, dim, data: memoryData };
  const fp32 = await PatchMemory.create(bank, { session: SESSION });
  const int8 = await PatchMemory.create(bank, { session: SESSION, precision: "int8" });
  try {
    const [a, b] = [await fp32.nearestDistances(queries), await int8.nearestDistances(queries)];
    let lo = 0, hi = 0;
    for (const v of queries) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const sq = (hi - lo) / 255;
    for (let q = 0; q < count; q++) {
      const query = queries.subarray(q * dim, (q + 1) * dim);
      const sumQ = query.reduce((s, v) => s + Math.abs(v), 0);
      let bound = 0;
      for (let m = 0; m < size; m++) {
        const row = memoryData.subarray(m * dim, (m + 1) * dim);
        const sm = row.reduce((s, v) => Math.max(s, Math.abs(v)), 0) / 127;
        const sumM = row.reduce((s, v) => s + Math.abs(v), 0);
        bound = Math.max(bound, (sumQ * sm) / 2 + (sumM * sq) / 2 + (dim * sq * sm) / 4);
      }
      assert.ok(Math.abs(a[q] - b[q]) <= bound, `query ${q}: ${b[q]} vs ${a[q]}, bound ${bound}`);
    }
    assert.ok(a.some((d, q) => d !== b[q]), "the int8 search gave float32's exact distances");
  } finally {
    await fp32.dispose();
    await int8.dispose();
  }
});
