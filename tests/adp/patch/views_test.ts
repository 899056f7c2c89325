/**
 * The eight views of a frame: each a symmetry of the square, all distinct on an asymmetric image.
 */
import assert from "node:assert/strict";
import { viewOf, VIEWS } from "../../../src/adp/patch/views.ts";
import type { Rgb8Image } from "../../../src/image/decode.ts";

/** A 3×2 image whose red channel numbers the pixels 0…5 row-major. */
const IMAGE: Rgb8Image = {
  width: 3,
  height: 2,
  data: Uint8Array.from({ length: 18 }, (_, i) => (i % 3 === 0 ? i / 3 : 0)),
};
const red = (img: { data: Uint8Array }) => [...img.data].filter((_, i) => i % 3 === 0);

Deno.test("viewOf() lays out every view as worked out by hand", () => {
  // 0 1 2
  // 3 4 5
  const expected: Record<string, [number, number, number[]]> = {
    identity: [3, 2, [0, 1, 2, 3, 4, 5]],
    flipH: [3, 2, [2, 1, 0, 5, 4, 3]],
    flipV: [3, 2, [3, 4, 5, 0, 1, 2]],
    rot180: [3, 2, [5, 4, 3, 2, 1, 0]],
    rot90: [2, 3, [3, 0, 4, 1, 5, 2]], // clockwise
    rot270: [2, 3, [2, 5, 1, 4, 0, 3]],
    transpose: [2, 3, [0, 3, 1, 4, 2, 5]],
    antiTranspose: [2, 3, [5, 2, 4, 1, 3, 0]],
  };
  for (const view of VIEWS) {
    const out = viewOf(IMAGE, view);
    assert.deepEqual([out.width, out.height, red(out)], expected[view], view);
  }
});

Deno.test("viewOf() quarter turns compose: four clockwise turns give the frame back", () => {
  let img = IMAGE;
  for (let i = 0; i < 4; i++) img = viewOf(img, "rot90");
  assert.deepEqual(img, IMAGE);
  assert.deepEqual(viewOf(viewOf(IMAGE, "rot90"), "rot90"), viewOf(IMAGE, "rot180"));
});
