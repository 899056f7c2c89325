/**
 * The protocol's pieces: the test-set limit, the two shot draws, and settings checks.
 */
import assert from "node:assert/strict";
import { checkSettings, drawShots, type EvalSettings, limitTest } from "../../src/eval/protocol.ts";
import { sampleShots } from "../../src/eval/datasets.ts";
import { ConfigError } from "../../src/errors.ts";

Deno.test("limitTest() keeps evenly spaced samples with both classes, first and last included", () => {
  const test = Array.from({ length: 10 }, (_, i) => ({ id: i, label: (i < 4 ? 0 : 1) as 0 | 1 }));
  assert.deepEqual(limitTest(test, 4).map((s) => s.id), [0, 3, 6, 9]);
  assert.equal(limitTest(test, 50).length, 10);
  assert.equal(limitTest(test, undefined).length, 10);
  assert.throws(() => limitTest(test, 1), ConfigError);
  const skewed = Array.from({ length: 10 }, (_, i) => ({ label: (i === 5 ? 1 : 0) as 0 | 1 }));
  assert.throws(() => limitTest(skewed, 2), /leaves one class without images/);
});

Deno.test("drawShots() draws with our generator or with numpy's RandomState", () => {
  const train = Array.from({ length: 10 }, (_, i) => `${i}.png`);
  assert.deepEqual(drawShots(train, { k: 3, seed: 0, draw: "numpy" }), ["2.png", "8.png", "4.png"]);
  assert.deepEqual(drawShots(train, { k: 3, seed: 0, draw: "adp" }), sampleShots(train, { k: 3, seed: 0 }));
});

Deno.test("checkSettings() refuses empty lists, duplicates, unknown variants and a missing model", () => {
  const ok: EvalSettings = {
    data: "d",
    categories: ["bottle"],
    shots: [2],
    seeds: [0],
    variants: ["plain-patch"],
    labelPrompts: false,
    draw: "adp",
    pixelSize: "mask",
  };
  checkSettings(ok);
  assert.throws(() => checkSettings({ ...ok, shots: [0] }), /Shots must be integers from 1 to 16/);
  assert.throws(() => checkSettings({ ...ok, seeds: [1, 1] }), /seed is listed twice/);
  assert.throws(() => checkSettings({ ...ok, variants: ["fused"] }), /need a CLIP model folder/);
  assert.throws(() => checkSettings({ ...ok, variants: ["nope" as "fused"] }), /Variant is unknown/);
  assert.throws(() => checkSettings({ ...ok, pixelSize: 4 }), /Pixel size/);
});
