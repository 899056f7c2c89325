/**
 * SDEdit pseudo-anomalies end to end on the tiny random Stable Diffusion (real onnxruntime, real
 * bottle shots from ../shared): the shot's size comes back, a seed gives the same bytes, another
 * concept gives other bytes, and a concept of the wrong width falls back to the word with one line.
 * The tiny model's edits mean nothing; what is checked is the pipeline around them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadStableDiffusion,
  type StableDiffusion,
  writeTinyStableDiffusion,
} from "../../../src/diffusion/mod.ts";
import {
  batchOf,
  createProceduralSynthesizer,
  createSdSynthesizer,
  makePseudoAnomalies,
  mixSynthesizers,
  SD_MASK_LEVEL,
  synthesizePseudoAnomalies,
} from "../../../src/adp/synth/mod.ts";
import { decodeImage, resizeBicubic, type Rgb8Image } from "../../../src/image/mod.ts";
import { Random } from "../../../src/random.ts";
import { needsShared, sharedPath } from "../../_shared.ts";
import { tempDir } from "../../_temp_dir.ts";

/** Small SDEdit settings: 4 of 8 steps at a 32 px working size keep each run well under a second. */
const FAST = { strength: 0.5, steps: 8, guidance: 3, size: 32 };

async function withTinySd(fn: (sd: StableDiffusion) => Promise<void>): Promise<void> {
  await using tmp = await tempDir("adp-sdedit-");
  await writeTinyStableDiffusion(tmp.path, { seed: 2 });
  const sd = await loadStableDiffusion(tmp.path, {
    device: "cpu",
    cacheDir: join(tmp.path, "cache"),
    log: () => {},
  });
  try {
    await fn(sd);
  } finally {
    await sd.release();
  }
}

/** Two bottle shots, shrunk to a non-square size so that the size round trip shows. */
async function shots(): Promise<Rgb8Image[]> {
  const out: Rgb8Image[] = [];
  for (const i of [0, 1]) {
    const image = await decodeImage(
      await Deno.readFile(sharedPath(`datasets/mvtec-ad/bottle/train/good/00${i}.png`)),
    );
    out.push(resizeBicubic(image, { width: 120, height: 96 }));
  }
  return out;
}

function concept(seed: number, width: number): { placeholder: string; vector: Float32Array } {
  const random = new Random(seed);
  return { placeholder: "sks", vector: Float32Array.from({ length: width }, () => 0.05 * random.normal()) };
}

Deno.test({
  name: "createSdSynthesizer() makes pseudo-anomalies of the shot's size, the same for a seed",
  ...needsShared,
  async fn() {
    await withTinySd(async (sd) => {
      const normals = await shots();
      const make = (seed: number) =>
        makePseudoAnomalies(normals, {
          count: 3,
          seed,
          crop: false,
          synthesizer: createSdSynthesizer({
            model: sd,
            word: "bottle",
            concept: concept(1, 128),
            ...FAST,
            batchSize: 2,
          }),
        });
      const first = await make(7);
      assert.equal(first.length, 3);
      for (const a of first) {
        assert.equal(a.image.width, 120);
        assert.equal(a.image.height, 96);
        assert.equal(a.mask.length, 120 * 96);
        assert.equal(a.kind, "sd");
      }
      const again = await make(7);
      for (const [i, a] of first.entries()) {
        assert.deepEqual(again[i].image.data, a.image.data, `anomaly ${i}`);
      }
      const other = await make(8);
      assert.notDeepEqual(other[0].image.data, first[0].image.data, "another seed, other noise");
      assert.ok(first[0].mask.some((m) => m === 255), "the edit shows on the part");
      // The mask is the rule's: mean channel change of at least SD_MASK_LEVEL.
      const a = first[0], normal = normals[0];
      for (let p = 0; p < a.mask.length; p += 97) {
        let change = 0;
        for (let k = 0; k < 3; k++) change += Math.abs(a.image.data[p * 3 + k] - normal.data[p * 3 + k]);
        assert.equal(a.mask[p], change / 3 >= SD_MASK_LEVEL ? 255 : 0, `mask at pixel ${p}`);
      }
    });
  },
});

Deno.test({
  name: "createSdSynthesizer() edits differently for different concepts, and keeps off the backdrop",
  ...needsShared,
  async fn() {
    await withTinySd(async (sd) => {
      const [normal] = await shots();
      const edit = (seed: number) =>
        createSdSynthesizer({ model: sd, word: "bottle", concept: concept(seed, 128), ...FAST })
          .synthesizeBatch([{ normal, random: new Random(3), index: 0 }]);
      const [a] = await edit(1);
      const [b] = await edit(2);
      assert.notDeepEqual(a.image.data, b.image.data);
      // The bottle stands on a uniform backdrop: its corner is outside the foreground, so unedited.
      assert.deepEqual(a.image.data.subarray(0, 3), normal.data.subarray(0, 3));
      assert.equal(a.mask[0], 0);
    });
  },
});

Deno.test({
  name: "createSdSynthesizer() prompts with the word, in one log line, when the concept is too narrow",
  ...needsShared,
  async fn() {
    await withTinySd(async (sd) => {
      const [normal] = await shots();
      const lines: string[] = [];
      const synth = createSdSynthesizer({
        model: sd,
        word: "bottle",
        concept: concept(1, 64),
        ...FAST,
        log: (l) => lines.push(l),
      });
      const items = () => [0, 1, 2].map((index) => ({ normal, random: new Random(index), index }));
      const [withWord] = await synth.synthesizeBatch(items().slice(0, 2));
      await synth.synthesizeBatch(items().slice(2));
      assert.equal(lines.length, 1);
      assert.match(lines[0], /64 wide .* 128: prompting with the word "bottle"/);
      const [plain] = await createSdSynthesizer({ model: sd, word: "bottle", ...FAST }).synthesizeBatch(
        items().slice(0, 1),
      );
      assert.deepEqual(withWord.image.data, plain.image.data, "the same as no concept at all");
    });
  },
});

Deno.test({
  name: "mixSynthesizers() alternates SD and procedural, each item as its synthesizer alone makes it",
  ...needsShared,
  async fn() {
    await withTinySd(async (sd) => {
      const normals = await shots();
      const opts = {
        count: 4,
        seed: 5,
        crop: { size: 48, scale: [0.5, 1] as [number, number], ratio: [0.75, 4 / 3] as [number, number] },
      };
      const sdOnly = createSdSynthesizer({ model: sd, word: "bottle", ...FAST });
      const procedural = createProceduralSynthesizer();
      const mixed = await makePseudoAnomalies(normals, {
        ...opts,
        synthesizer: mixSynthesizers(sdOnly, batchOf(procedural)),
      });
      assert.deepEqual(mixed.map((a) => a.kind === "sd"), [true, false, true, false]);
      const alone = synthesizePseudoAnomalies(normals, { ...opts, synthesizer: procedural });
      assert.deepEqual(mixed[1].image.data, alone[1].image.data, "the procedural path's bytes");
      assert.deepEqual(mixed[3].mask, alone[3].mask);
      const sdAlone = await makePseudoAnomalies(normals, { ...opts, synthesizer: sdOnly });
      assert.deepEqual(mixed[2].image.data, sdAlone[2].image.data, "the SD path's bytes");
    });
  },
});

Deno.test({
  name: "makePseudoAnomalies() with the SD synthesizer stops between batches when cancelled",
  ...needsShared,
  async fn() {
    await withTinySd(async (sd) => {
      const normals = await shots();
      const controller = new AbortController();
      const done: number[] = [];
      await assert.rejects(
        makePseudoAnomalies(normals, {
          count: 6,
          seed: 1,
          crop: false,
          signal: controller.signal,
          synthesizer: createSdSynthesizer({ model: sd, word: "bottle", ...FAST, batchSize: 2 }),
          onProgress: (n) => {
            done.push(n);
            controller.abort("cancelled on request");
          },
        }),
        (reason) => reason === "cancelled on request",
      );
      assert.deepEqual(done, [2], "no batch after the cancellation");
    });
  },
});
