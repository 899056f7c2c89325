import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { contactSheet } from "../../../src/adp/synth/contact_sheet.ts";
import type { Rgb8Image } from "../../../src/image/decode.ts";

function flat(width: number, height: number, v: number): Rgb8Image {
  return { width, height, data: new Uint8Array(width * height * 3).fill(v) };
}

Deno.test("contactSheet() puts originals first and each anomaly plain then outlined in red", () => {
  const image = flat(16, 16, 100);
  const mask = new Uint8Array(256);
  for (let y = 4; y < 12; y++) mask.fill(255, y * 16 + 4, y * 16 + 12);
  const sheet = contactSheet([flat(16, 16, 30)], [{ image, mask, kind: "stain" }], { tile: 16, columns: 1 });
  // One pair per row: two tiles and three 4 px gaps across; two rows (originals, anomaly) down.
  strictEqual(sheet.width, 2 * 16 + 3 * 4);
  strictEqual(sheet.height, 2 * 16 + 3 * 4);
  const px = (
    x: number,
    y: number,
  ) => [...sheet.data.subarray((y * sheet.width + x) * 3, (y * sheet.width + x) * 3 + 3)];
  deepStrictEqual(px(4 + 8, 4 + 8), [30, 30, 30], "original");
  const top = 4 + 16 + 4;
  deepStrictEqual(px(4 + 4, top + 4), [100, 100, 100], "plain anomaly, on the mask's corner");
  const right = 4 + 16 + 4;
  deepStrictEqual(px(right + 4, top + 4), [255, 0, 0], "outline at the mask's corner");
  deepStrictEqual(px(right + 8, top + 8), [100, 100, 100], "inside the mask, no outline");
  deepStrictEqual(px(right + 1, top + 1), [100, 100, 100], "outside the mask");
});

Deno.test("contactSheet() fits a larger image into its tile", () => {
  const image = flat(64, 32, 200);
  const sheet = contactSheet([], [{ image, mask: new Uint8Array(64 * 32), kind: "scar" }], {
    tile: 16,
    columns: 1,
  });
  strictEqual(sheet.height, 16 + 2 * 4);
  // 64×32 fits as 16×8, centred: rows 4..7 of the tile are backdrop, 8..15 image.
  deepStrictEqual([
    ...sheet.data.subarray(((4 + 1) * sheet.width + 4) * 3, ((4 + 1) * sheet.width + 4) * 3 + 3),
  ], [
    40,
    40,
    40,
  ]);
  strictEqual(sheet.data[((4 + 8) * sheet.width + 4) * 3], 200);
});
