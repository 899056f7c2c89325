/**
 * The one-sweep pixel metrics against the three metric functions they stand in for, on random maps
 * with ties: AUROC and F1-max identical, AUPRO to 1e-12.
 */
import assert from "node:assert/strict";
import { pixelMetrics } from "../../src/metrics/pixel_metrics.ts";
import { pixelAuroc } from "../../src/metrics/auroc.ts";
import { aupro } from "../../src/metrics/aupro.ts";
import { f1Max } from "../../src/metrics/f1_max.ts";
import { Random } from "../../src/random.ts";

Deno.test("pixelMetrics() equals pixelAuroc(), aupro() and f1Max() on random maps with ties", () => {
  const random = new Random(7);
  for (const [levels, rate] of [[4, 0.05], [50, 0.2], [100_000, 0.1]]) {
    const sizes = [{ width: 31, height: 17 }, { width: 12, height: 40 }, { width: 25, height: 25 }];
    const total = sizes.reduce((a, s) => a + s.width * s.height, 0);
    const masks = new Uint8Array(total), scores = new Float32Array(total);
    for (let i = 0; i < total; i++) {
      masks[i] = random.next() < rate ? 1 : 0;
      scores[i] = random.int(0, levels) / levels + masks[i] * random.next() * 0.3;
    }
    const m = pixelMetrics(scores, masks, { sizes });
    assert.equal(m.pixelAuroc, pixelAuroc(scores, masks), `AUROC, ${levels} levels`);
    assert.equal(m.pixelF1Max, f1Max(scores, masks), `F1, ${levels} levels`);
    assert.ok(Math.abs(m.aupro - aupro(scores, masks, { sizes })) <= 1e-12, `AUPRO, ${levels} levels`);
    const limited = pixelMetrics(scores, masks, { sizes, maxFpr: 0.05 });
    assert.ok(Math.abs(limited.aupro - aupro(scores, masks, { sizes, maxFpr: 0.05 })) <= 1e-12);
    assert.equal(limited.pixelAuroc, m.pixelAuroc, "the limit is AUPRO's alone");
  }
});
