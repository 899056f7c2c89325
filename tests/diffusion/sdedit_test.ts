import assert from "node:assert/strict";
import { workingSize } from "../../src/diffusion/mod.ts";
import { ConfigError } from "../../src/errors.ts";

Deno.test("workingSize() keeps the aspect with the longer side at size, both sides multiples of 8", () => {
  // By hand: 900×900 → 512×512; 72×56 at 32 → 32 × round(24.9/8)·8 = 32×24; 1000×100 at 64 → the short
  // side 6.4 rounds to 0 and is held at one multiple, 8.
  assert.deepEqual(workingSize({ width: 900, height: 900 }, 512, 8), { width: 512, height: 512 });
  assert.deepEqual(workingSize({ width: 72, height: 56 }, 32, 8), { width: 32, height: 24 });
  assert.deepEqual(workingSize({ width: 1000, height: 100 }, 64, 8), { width: 64, height: 8 });
  assert.deepEqual(workingSize({ width: 600, height: 800 }, 768, 8), { width: 576, height: 768 });
  assert.throws(() => workingSize({ width: 10, height: 10 }, 4, 8), ConfigError);
});
