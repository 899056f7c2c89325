import { deepStrictEqual, notDeepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { synthesizePseudoAnomalies } from "../../../src/adp/synth/synthesizer.ts";
import type { PseudoAnomaly, Synthesizer } from "../../../src/adp/synth/pseudo_anomaly.ts";
import { decodeImage, type Rgb8Image } from "../../../src/image/decode.ts";
import type { Random } from "../../../src/random.ts";
import { ConfigError } from "../../../src/errors.ts";
import { needsShared, sharedPath } from "../../_shared.ts";

function texturedImage(width: number, height: number, phase: number): Rgb8Image {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = 100 + 40 * Math.sin(p * 0.021 + phase) + 20 * Math.cos(p * 0.0037);
    data[p * 3] = v;
    data[p * 3 + 1] = v + 10;
    data[p * 3 + 2] = v - 15;
  }
  return { width, height, data };
}

const NORMALS = [texturedImage(200, 160, 0), texturedImage(180, 180, 1.5)];
const CROP = { size: 96, scale: [0.5, 1] as [number, number], ratio: [3 / 4, 4 / 3] as [number, number] };

function bytesOf(anomalies: PseudoAnomaly[]): Uint8Array[] {
  return anomalies.flatMap((a) => [a.image.data, a.mask]);
}

Deno.test("synthesizePseudoAnomalies() gives identical bytes for the same seed and others for another", () => {
  const a = synthesizePseudoAnomalies(NORMALS, { count: 10, seed: 5, crop: CROP });
  const b = synthesizePseudoAnomalies(NORMALS, { count: 10, seed: 5, crop: CROP });
  const c = synthesizePseudoAnomalies(NORMALS, { count: 10, seed: 6, crop: CROP });
  deepStrictEqual(bytesOf(a), bytesOf(b));
  deepStrictEqual(a.map((x) => x.kind), b.map((x) => x.kind));
  for (let i = 0; i < 10; i++) {
    notDeepStrictEqual(a[i].image.data, c[i].image.data, `anomaly ${i} did not change`);
  }
});

Deno.test("synthesizePseudoAnomalies() makes anomaly i the same whatever the count", () => {
  const few = synthesizePseudoAnomalies(NORMALS, { count: 3, seed: 2, crop: CROP });
  const many = synthesizePseudoAnomalies(NORMALS, { count: 7, seed: 2, crop: CROP });
  deepStrictEqual(bytesOf(few), bytesOf(many.slice(0, 3)));
});

Deno.test("synthesizePseudoAnomalies() goes round-robin over the normals with the given synthesizer", () => {
  const seen: number[] = [];
  const recorder: Synthesizer = {
    name: "recorder",
    synthesize(normal: Rgb8Image, random: Random): PseudoAnomaly {
      seen.push(normal.width);
      const mask = new Uint8Array(normal.width * normal.height);
      const data = normal.data.slice();
      const p = random.int(0, mask.length - 1);
      mask[p] = 255;
      data[p * 3] ^= 0xff;
      return { image: { ...normal, data }, mask, kind: "flip" };
    },
  };
  const normals = [texturedImage(30, 20, 0), texturedImage(31, 20, 0), texturedImage(32, 20, 0)];
  const out = synthesizePseudoAnomalies(normals, { count: 7, seed: 0, synthesizer: recorder, crop: false });
  deepStrictEqual(seen, [30, 31, 32, 30, 31, 32, 30]);
  deepStrictEqual(out.map((a) => a.image.width), [30, 31, 32, 30, 31, 32, 30]);
  ok(out.every((a) => a.kind === "flip"));
});

Deno.test("synthesizePseudoAnomalies() crops to size×size and keeps every defect in view", () => {
  const out = synthesizePseudoAnomalies(NORMALS, { count: 30, seed: 9, crop: CROP });
  for (const [i, a] of out.entries()) {
    strictEqual(a.image.width, 96);
    strictEqual(a.image.height, 96);
    strictEqual(a.image.data.length, 96 * 96 * 3);
    strictEqual(a.mask.length, 96 * 96);
    ok(a.mask.some((m) => m === 255), `anomaly ${i} (${a.kind}) lost its defect to the crop`);
    ok(a.mask.every((m) => m === 0 || m === 255), `anomaly ${i}: mask is not binary`);
  }
});

Deno.test("synthesizePseudoAnomalies() keeps full-size images when crop is false", () => {
  const out = synthesizePseudoAnomalies(NORMALS, { count: 2, seed: 1, crop: false });
  deepStrictEqual(out.map((a) => [a.image.width, a.image.height, a.mask.length]), [
    [200, 160, 200 * 160],
    [180, 180, 180 * 180],
  ]);
});

Deno.test("synthesizePseudoAnomalies() refuses no normals, a bad count and a bad crop size", () => {
  throws(() => synthesizePseudoAnomalies([], { count: 1, seed: 0 }), ConfigError);
  throws(() => synthesizePseudoAnomalies(NORMALS, { count: -1, seed: 0 }), ConfigError);
  throws(() => synthesizePseudoAnomalies(NORMALS, { count: 1.5, seed: 0 }), ConfigError);
  throws(
    () => synthesizePseudoAnomalies(NORMALS, { count: 1, seed: 0, crop: { ...CROP, size: 0 } }),
    ConfigError,
  );
  deepStrictEqual(synthesizePseudoAnomalies(NORMALS, { count: 0, seed: 0 }), []);
});

Deno.test(
  "synthesizePseudoAnomalies() makes 64 crops of 224 px from 900×900 bottles",
  needsShared,
  async () => {
    const dir = sharedPath("datasets/mvtec-ad/bottle/train/good");
    const normals = await Promise.all(
      ["000", "001"].map(async (n) => decodeImage(await Deno.readFile(`${dir}/${n}.png`))),
    );
    const out = synthesizePseudoAnomalies(normals, { count: 64, seed: 3 });
    strictEqual(out.length, 64);
    strictEqual(out[63].image.width, 224);
  },
);
