/**
 * numpy's legacy draw against values numpy itself gives, and MT19937 against its reference outputs.
 */
import assert from "node:assert/strict";
import { Mt19937, numpyChoice } from "../../src/eval/numpy_choice.ts";
import { ConfigError } from "../../src/errors.ts";

Deno.test("Mt19937 reproduces the reference generator's outputs for seed 5489", () => {
  // The C++ standard pins these: the first output, and the 10 000th (std::mt19937 default seed).
  const mt = new Mt19937(5489);
  assert.equal(mt.uint32(), 3499211612);
  let v = 0;
  for (let i = 1; i < 10_000; i++) v = mt.uint32();
  assert.equal(v, 4123659995);
});

Deno.test("numpyChoice() draws what numpy's RandomState(seed).permutation and choice draw", () => {
  // numpy: RandomState(0).permutation(10) = [2 8 4 9 1 6 7 3 0 5]; RandomState(42) → [8 1 5 0 7 2 9 4 3 6];
  // choice(n, k, replace=False) is the first k of the permutation.
  assert.deepEqual(numpyChoice(10, { k: 10, seed: 0 }), [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
  assert.deepEqual(numpyChoice(10, { k: 10, seed: 42 }), [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]);
  assert.deepEqual(numpyChoice(10, { k: 3, seed: 0 }), [2, 8, 4]);
  assert.deepEqual(numpyChoice(1, { k: 1, seed: 7 }), [0]);
});

Deno.test("numpyChoice() refuses draws numpy would refuse", () => {
  assert.throws(() => numpyChoice(5, { k: 6, seed: 0 }), ConfigError);
  assert.throws(() => numpyChoice(5, { k: 0, seed: 0 }), ConfigError);
  assert.throws(() => numpyChoice(5, { k: 2, seed: -1 }), ConfigError);
  assert.throws(() => numpyChoice(5, { k: 2, seed: 2 ** 32 }), ConfigError);
});
