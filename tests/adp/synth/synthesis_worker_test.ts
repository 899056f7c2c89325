/**
 * The synthesis worker makes the same bytes as `synthesizePseudoAnomalies` on the caller's thread,
 * refuses invalid options at once, and refuses what is still waiting when it is terminated.
 */
import assert from "node:assert/strict";
import { SynthesisWorker, synthesizePseudoAnomalies } from "../../../src/adp/synth/mod.ts";
import { ConfigError } from "../../../src/errors.ts";

const normal = (seed: number) => ({
  width: 96,
  height: 80,
  data: new Uint8Array(96 * 80 * 3).map((_, i) => 60 + ((i * (13 + seed)) % 120)),
});

Deno.test("the synthesis worker makes the same pseudo-anomalies as the caller's thread", async () => {
  const normals = [normal(0), normal(1)];
  const opts = {
    count: 6,
    seed: 7,
    crop: { size: 48, scale: [0.5, 1] as [number, number], ratio: [0.75, 4 / 3] as [number, number] },
  };
  const worker = new SynthesisWorker();
  try {
    const [a, b] = await Promise.all([
      worker.synthesize(normals, opts),
      worker.synthesize(normals, { ...opts, seed: 8 }),
    ]);
    assert.deepEqual(a, synthesizePseudoAnomalies(normals, opts));
    assert.deepEqual(b, synthesizePseudoAnomalies(normals, { ...opts, seed: 8 }));
    assert.equal(normals[0].data.length, 96 * 80 * 3, "the caller's images are left whole");
    assert.throws(() => worker.synthesize(normals, { ...opts, count: -1 }), ConfigError);
    const waiting = worker.synthesize(normals, opts);
    worker.terminate();
    await assert.rejects(waiting, /synthesis worker was stopped/);
  } finally {
    worker.terminate();
  }
});
