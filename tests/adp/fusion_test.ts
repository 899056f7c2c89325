/**
 * Fusion on hand-worked scores. (The calibration that chooses its parameters is tested in
 * calibration_test.ts, the text branch's admission in text_admission_test.ts; the fixed-margin
 * rule and the max(3σ, max + 0.5σ) threshold tested here before were replaced by them, issue 11.)
 */
import assert from "node:assert/strict";
import { fuseScores } from "../../src/adp/fusion.ts";

Deno.test("fuseScores() standardises each branch and mixes them by the text weight", () => {
  const f = { patchMean: 0.2, patchStd: 0.05, textMean: 0.5, textStd: 0.1, textWeight: 0 };
  assert.ok(Math.abs(fuseScores({ patch: 0.35, text: 9 }, f) - 3) < 1e-12);
  const mixed = { ...f, textWeight: 0.25 };
  assert.ok(Math.abs(fuseScores({ patch: 0.35, text: 0.7 }, mixed) - (0.75 * 3 + 0.25 * 2)) < 1e-12);
});
