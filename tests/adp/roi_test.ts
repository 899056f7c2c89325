/**
 * Regions of interest rasterised onto the patch grid and the map, each case worked out by hand: a
 * cell or pixel is inside when its centre is (even–odd, left/top edges in, right/bottom out).
 */
import assert from "node:assert/strict";
import {
  checkRoi,
  insidePolygon,
  insideRoi,
  maskFromImage,
  maskPatchScores,
  type Polygon,
  roiCellMask,
  roiPixelMask,
} from "../../src/adp/roi.ts";
import { Guard } from "../../src/guard.ts";
import { ConfigError } from "../../src/errors.ts";

const rect = (
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): Polygon => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
const rows = (mask: Uint8Array, width: number) =>
  Array.from(
    { length: mask.length / width },
    (_, r) => [...mask.subarray(r * width, (r + 1) * width)].join(""),
  );

Deno.test("insidePolygon: even–odd, half-open edges, a concave polygon's notch is outside", () => {
  const square = rect(0, 0, 4, 4);
  assert.equal(insidePolygon(0, 2, square), true, "left edge in");
  assert.equal(insidePolygon(4, 2, square), false, "right edge out");
  assert.equal(insidePolygon(2, 0, square), true, "top edge in");
  assert.equal(insidePolygon(2, 4, square), false, "bottom edge out");
  // A U shape: x 0–3, y 0–3, with the notch x 1–2, y 0–2 cut from the top.
  const u: Polygon = [[0, 0], [1, 0], [1, 2], [2, 2], [2, 0], [3, 0], [3, 3], [0, 3]];
  assert.equal(insidePolygon(1.5, 1, u), false);
  assert.equal(insidePolygon(0.5, 1, u), true);
  assert.equal(insidePolygon(1.5, 2.5, u), true);
  // Vertex order does not matter.
  assert.equal(insidePolygon(1.5, 1, [...u].reverse()), false);
});

Deno.test("roiCellMask: a 4×4 grid over an 8×8 frame squashed whole (cell centres at 1, 3, 5, 7)", () => {
  const grid = { gridW: 4, gridH: 4, resize: "whole" as const, inputWidth: 224, inputHeight: 224 };
  const frame = { width: 8, height: 8 };
  // Ignore x 0–4 × y 0–4: centres 1 and 3 on each axis are inside → the top-left 2×2 cells.
  assert.deepEqual(rows(roiCellMask({ ignore: [rect(0, 0, 4, 4)] }, grid, frame), 4), [
    "0011",
    "0011",
    "1111",
    "1111",
  ]);
  // Include x 3–7 × y 0–8: centres 3 and 5 (7 is the right edge: out) → columns 1 and 2.
  assert.deepEqual(rows(roiCellMask({ include: [rect(3, 0, 7, 8)] }, grid, frame), 4), [
    "0110",
    "0110",
    "0110",
    "0110",
  ]);
  // Include and ignore: the ignore wins where they overlap (row 0).
  assert.deepEqual(
    rows(roiCellMask({ include: [rect(3, 0, 7, 8)], ignore: [rect(0, 0, 8, 2)] }, grid, frame), 4),
    ["0000", "0110", "0110", "0110"],
  );
});

Deno.test("roiCellMask: with a centre crop the grid covers the frame's middle only", () => {
  // A 16×8 frame into a 4×4 input, crop: scaled to 8×4, offset 2 → the grid spans frame x 4–12.
  // Cell centres in the frame: x = (c + 0.5 + 2)·2 = 5, 7, 9, 11; y = (r + 0.5)·2 = 1, 3, 5, 7.
  const grid = { gridW: 4, gridH: 4, resize: "crop" as const, inputWidth: 4, inputHeight: 4 };
  const mask = roiCellMask({ ignore: [rect(0, 0, 8, 8)] }, grid, { width: 16, height: 8 });
  assert.deepEqual(rows(mask, 4), ["0011", "0011", "0011", "0011"]);
});

Deno.test("roiPixelMask: a 4×2 map over a 40×20 frame (pixel centres at x 5, 15, 25, 35; y 5, 15)", () => {
  const mask = roiPixelMask({ include: [rect(10, 0, 30, 10)] }, { width: 4, height: 2 }, {
    width: 40,
    height: 20,
  });
  assert.deepEqual(rows(mask, 4), ["0110", "0000"]);
});

Deno.test("maskPatchScores: excluded cells 0, the image score from the inspected cells alone", () => {
  const scores = {
    n: 1,
    gridH: 2,
    gridW: 2,
    distances: Float32Array.of(0.9, 0.25, 0.5, 0.125),
    imageScores: Float32Array.of(0.9),
  };
  const masked = maskPatchScores(scores, Uint8Array.of(0, 1, 1, 1), { kind: "max" });
  assert.deepEqual([...masked.distances], [0, 0.25, 0.5, 0.125]);
  assert.equal(masked.imageScores[0], 0.5);
  const top2 = maskPatchScores(scores, Uint8Array.of(0, 1, 1, 1), { kind: "topMean", count: 2 });
  assert.equal(top2.imageScores[0], 0.375);
  assert.equal(
    maskPatchScores(scores, new Uint8Array(4), { kind: "max" }).imageScores[0],
    0,
    "nothing inspected",
  );
  assert.throws(() => maskPatchScores(scores, new Uint8Array(3), { kind: "max" }), RangeError);
  // With edge offsets the inspected cells count less them; the distances stay as measured.
  const edged = maskPatchScores(
    { ...scores, edgeOffsets: Float32Array.of(0, 0, 0.5, 0) },
    Uint8Array.of(0, 1, 1, 1),
    { kind: "max" },
  );
  assert.deepEqual([...edged.distances], [0, 0.25, 0.5, 0.125]);
  assert.equal(edged.imageScores[0], 0.25);
});

Deno.test("checkRoi refuses what is not a region, naming the field", () => {
  const guard = new Guard((m) => new ConfigError(m));
  assert.deepEqual(checkRoi(guard, { ignore: [[[0, 0], [1, 0], [1, 1]]] }, "roi"), {
    ignore: [[[0, 0], [1, 0], [1, 1]]],
  });
  assert.throws(
    () => checkRoi(guard, { ignore: [[[0, 0], [1, 0]]] }, "roi"),
    /field roi.ignore\[0\] must be a polygon/,
  );
  assert.throws(
    () => checkRoi(guard, { include: [[[0, 0], [1, "a"], [1, 1]]] }, "roi"),
    /roi.include\[0\]\[1\]/,
  );
  assert.throws(() => checkRoi(guard, { exclude: [] }, "roi"), /unknown field "exclude"/);
  assert.throws(() => checkRoi(guard, [], "roi"), /field roi must be a JSON object/);
});

Deno.test("a mask image: luma ≥ 128 inspected, run-length encoded, looked up at the pixel a point lies in", () => {
  // 4×2: row 0 black black white white; row 1 white grey(100) grey(128) black.
  const px = [0, 0, 255, 255, 255, 100, 128, 0];
  const image = { width: 4, height: 2, data: Uint8Array.from(px.flatMap((v) => [v, v, v])) };
  const mask = maskFromImage(image);
  assert.deepEqual(mask, { width: 4, height: 2, runs: [2, 3, 1, 1, 1] });
  const at = (x: number, y: number) => insideRoi({ mask }, x, y);
  assert.deepEqual([at(0.5, 0.5), at(2, 0), at(3.99, 0.5), at(0, 1), at(1.5, 1.5), at(2.5, 1.5)], [
    false,
    true,
    true,
    true,
    false,
    true,
  ]);
  assert.equal(at(4, 0), false, "beyond the mask nothing is inspected");
  assert.equal(at(-0.5, 0), false);
  // With an ignore polygon, both apply.
  assert.equal(insideRoi({ mask, ignore: [rect(2, 0, 3, 1)] }, 2.5, 0.5), false);
  // A 2×2 grid: cell centres at x 1, 3 and y 0.5, 1.5 fall on pixels (1, 0) black, (3, 0) white,
  // (1, 1) grey 100, (3, 1) black.
  const grid = { gridW: 2, gridH: 2, resize: "whole" as const, inputWidth: 2, inputHeight: 2 };
  assert.deepEqual([...roiCellMask({ mask }, grid, { width: 4, height: 2 })], [0, 1, 0, 0]);

  const guard = new Guard((m) => new ConfigError(m));
  assert.deepEqual(checkRoi(guard, { mask }, "roi"), { mask });
  assert.throws(
    () => checkRoi(guard, { mask: { ...mask, runs: [2, 3] } }, "roi"),
    /field roi.mask.runs must cover the 4×2 mask: got 5 pixels/,
  );
  assert.throws(() => checkRoi(guard, { mask: { ...mask, runs: [2, -1, 7] } }, "roi"), /roi.mask.runs\[1\]/);
  assert.throws(() => checkRoi(guard, { mask: { ...mask, width: 0 } }, "roi"), /roi.mask.width/);
});
