/**
 * The text branch's admission test on constructed score distributions: noise never passes, a
 * branch that carries information the patch branch lacks does.
 */
import assert from "node:assert/strict";
import { admitTextBranch, type PairedScores } from "../../src/adp/text_admission.ts";
import { Random } from "../../src/random.ts";

/** Patch scores: normals N(0, 1), anomalies N(shift, 1); text from `text(label, rng)`. */
function sample(
  seed: number,
  text: (label: 0 | 1, rng: Random) => number,
  counts = { normals: 16, anomalies: 64 },
  shift = 2,
): { normals: PairedScores[]; anomalies: PairedScores[] } {
  const rng = Random.forStream(seed, "admission-test");
  const draw = (label: 0 | 1) => ({ patch: shift * label + rng.normal(), text: text(label, rng) });
  return {
    normals: Array.from({ length: counts.normals }, () => draw(0)),
    anomalies: Array.from({ length: counts.anomalies }, () => draw(1)),
  };
}

Deno.test("admitTextBranch() rejects a text branch of noise on every one of 100 seeds", () => {
  let admitted = 0;
  for (let seed = 0; seed < 100; seed++) {
    const { normals, anomalies } = sample(seed, (_, rng) => rng.normal());
    const r = admitTextBranch(normals, anomalies, { seed, permutations: 999 });
    if (r.admitted) admitted++;
    assert.equal(r.weight, r.admitted ? r.weight : 0);
  }
  assert.equal(admitted, 0);
});

Deno.test("admitTextBranch() rejects noise at the smallest sample it judges, on every one of 100 seeds", () => {
  let admitted = 0;
  for (let seed = 0; seed < 100; seed++) {
    const { normals, anomalies } = sample(seed, (_, rng) => rng.normal(), { normals: 8, anomalies: 16 });
    if (admitTextBranch(normals, anomalies, { seed, permutations: 999 }).admitted) admitted++;
  }
  assert.equal(admitted, 0);
});

Deno.test("admitTextBranch() admits an informative branch, at a weight that helps", () => {
  // Text separates the pseudo-anomalies far better than a weak patch branch (3σ against 1σ), independently.
  let admitted = 0;
  for (let seed = 0; seed < 10; seed++) {
    const { normals, anomalies } = sample(seed, (label, rng) => 3 * label + rng.normal(), undefined, 1);
    const r = admitTextBranch(normals, anomalies, { seed, permutations: 999 });
    if (!r.admitted) continue;
    admitted++;
    assert.ok(r.weight >= 0.5, `weight ${r.weight}`); // the stronger branch carries most of the weight
    assert.ok(r.gain >= 0.05 && r.pValue <= 0.001, r.reason);
  }
  assert.ok(admitted >= 9, `${admitted} of 10 admitted`);
});

Deno.test("admitTextBranch() needs independent normals: views of one shot count once", () => {
  const { normals, anomalies } = sample(0, (label, rng) => 3 * label + rng.normal());
  assert.equal(admitTextBranch(normals, anomalies).admitted, true);
  const views = admitTextBranch(normals, anomalies, { groups: normals.map((_, i) => i >> 2) });
  assert.equal(views.admitted, false);
  assert.match(views.reason, /4 independent normals/);
  assert.equal(admitTextBranch(normals.slice(0, 7), anomalies).admitted, false);
  assert.equal(admitTextBranch(normals, anomalies.slice(0, 15)).admitted, false);
});
