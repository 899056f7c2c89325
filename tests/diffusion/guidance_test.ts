import { throws } from "node:assert/strict";
import { assertClose } from "../_numeric.ts";
import { classifierFreeGuidance } from "../../src/diffusion/mod.ts";
import { ConfigError } from "../../src/errors.ts";

Deno.test("classifierFreeGuidance() extrapolates from uncond towards cond", () => {
  // By hand: 0.5 + 7.5·(1.5 − 0.5) = 8; −1 + 7.5·(−2 − (−1)) = −8.5; 2 + 7.5·0 = 2. Tolerance: float32.
  const batched = new Float32Array([0.5, -1, 2, 1.5, -2, 2]);
  assertClose(classifierFreeGuidance(batched, 7.5), [8, -8.5, 2], 1e-6, "g = 7.5");
  assertClose(classifierFreeGuidance(batched, 1), [1.5, -2, 2], 0, "g = 1 is the conditioned half");
  assertClose(classifierFreeGuidance(batched, 0), [0.5, -1, 2], 0, "g = 0 is the unconditioned half");
});

Deno.test("classifierFreeGuidance() refuses a batch without two halves", () => {
  throws(() => classifierFreeGuidance(new Float32Array(3), 2), ConfigError);
});
