import { ok, strictEqual } from "node:assert/strict";
import { estimateForeground } from "../../../src/adp/synth/foreground.ts";
import { decodeImage, type Rgb8Image } from "../../../src/image/decode.ts";
import { Random } from "../../../src/random.ts";
import { needsShared, sharedPath } from "../../_shared.ts";

function share(fg: Uint8Array): number {
  return fg.reduce((n, v) => n + (v >= 128 ? 1 : 0), 0) / fg.length;
}

Deno.test("estimateForeground() finds a part on a white backdrop, holes included", () => {
  const width = 200, height = 150;
  const data = new Uint8Array(width * height * 3).fill(245);
  for (let y = 30; y < 120; y++) {
    for (let x = 40; x < 160; x++) {
      // A dark ring with a white hole: the hole is part of the object, not backdrop.
      const hole = x >= 80 && x < 120 && y >= 60 && y < 90;
      data.fill(hole ? 245 : 50, (y * width + x) * 3, (y * width + x + 1) * 3);
    }
  }
  const fg = estimateForeground({ width, height, data })!;
  strictEqual(fg.length, width * height);
  strictEqual(fg[75 * width + 100], 255, "the hole");
  strictEqual(fg[40 * width + 60], 255, "the ring");
  strictEqual(fg[5 * width + 5], 0, "the corner");
  strictEqual(fg[75 * width + 190], 0, "the right margin");
});

Deno.test("estimateForeground() reports no backdrop for a texture filling the frame", () => {
  const random = new Random(0);
  const data = new Uint8Array(120 * 90 * 3).map(() => random.int(0, 255));
  strictEqual(estimateForeground({ width: 120, height: 90, data }), undefined);
});

Deno.test("estimateForeground() reports no object on a blank image", () => {
  strictEqual(
    estimateForeground({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(200) }),
    undefined,
  );
});

async function load(path: string): Promise<Rgb8Image> {
  return await decodeImage(await Deno.readFile(sharedPath(path)));
}

Deno.test(
  "estimateForeground() outlines the MVTec bottle and not the magnetic tile",
  needsShared,
  async () => {
    const bottle = await load("datasets/mvtec-ad/bottle/train/good/000.png");
    const fg = estimateForeground(bottle)!;
    const s = share(fg);
    // The bottle's disc is about 0.88 of the frame across: π·0.44² ≈ 0.61.
    ok(s > 0.5 && s < 0.7, `bottle share ${s}`);
    strictEqual(fg[450 * 900 + 450], 255);
    strictEqual(fg[20 * 900 + 20], 0);
    const tile = await load("datasets/magnetic-tile/tile/train/good/exp1_num_18129.jpg");
    strictEqual(estimateForeground(tile), undefined);
  },
);
