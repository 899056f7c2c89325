/**
 * The DDIM scheduler against values worked out independently. ᾱ₀ = 1 − β₀ = 0.99915 is worked by
 * hand; the rest were computed with numpy 2.4 in float64, transcribing diffusers' `DDIMScheduler`
 * and img2img's `get_timesteps` line by line:
 *   ac = cumprod(1 − linspace(0.00085**.5, 0.012**.5, 1000)**2)
 *   ts = (arange(N) * (1000 // N))[::-1] + 1;  sdedit = ts[N − int(N·s):]
 *   v:  x0 = √a·x − √(1−a)·m, ε = √a·m + √(1−a)·x;  ε-pred: x0 = (x − √(1−a)·m)/√a, ε = m
 *   prev = √a_prev·x0 + √(1−a_prev)·ε, a_prev = ac[t − 1000//N] or ac[0] below 0
 *   linspace: linspace(0, 999, N).round()[::-1]; trailing: round(arange(1000, 0, −1000/N)) − 1
 * with x = [0.5, −1.2, 2], m = [0.3, 0.1, −0.7], N = 10. Tolerances: ᾱ 1e-9 (both sides float64; the
 * scheduler here sums in another order only through cumprod); samples 1e-6, since they are stored in
 * float32 here (values below 3: 3·2⁻²⁴ ≈ 2e-7, with margin). numpy's float32 ᾱ (what diffusers keeps)
 * differs from float64 by 2.1e-6 relative at most, which is why float64 is the reference.
 */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { assertClose } from "../_numeric.ts";
import {
  addNoise,
  ddimSchedule,
  ddimStep,
  parseSchedulerConfig,
  SD21_SCHEDULER as SD21_JSON,
  sdeditTimesteps,
} from "../../src/diffusion/mod.ts";
import { ConfigError } from "../../src/errors.ts";

/** SD 2.1's scheduler_config.json as the loader parses it. */
const SD21_SCHEDULER = parseSchedulerConfig(SD21_JSON, "stable-diffusion-2-1 scheduler_config.json");
const x = new Float32Array([0.5, -1.2, 2.0]);
const out = new Float32Array([0.3, 0.1, -0.7]);
/** float32 storage of samples below 3: 3 × 2⁻²⁴ ≈ 2e-7, with margin. */
const SAMPLE_TOL = 1e-6;

Deno.test("ddimSchedule() has SD 2.1's cumulative alphas", () => {
  const s = ddimSchedule(SD21_SCHEDULER, 10);
  assertClose([s.alphasCumprod[0]], [0.99915], 1e-12, "ᾱ_0 = 1 − β_0 by hand");
  assertClose(
    [1, 401, 501, 999].map((t) => s.alphasCumprod[t]),
    [0.9982960278384514, 0.42288152426173453, 0.2749990668501319, 0.004660098513077238],
    1e-9,
    "ᾱ_t against numpy",
  );
  assertEquals(s.finalAlphaCumprod, s.alphasCumprod[0]);
  assertEquals(ddimSchedule({ ...SD21_SCHEDULER, setAlphaToOne: true }, 10).finalAlphaCumprod, 1);
});

Deno.test("ddimSchedule() spaces timesteps as diffusers does", () => {
  assertEquals(ddimSchedule(SD21_SCHEDULER, 10).timesteps, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  assertEquals(
    ddimSchedule({ ...SD21_SCHEDULER, timestepSpacing: "linspace" }, 7).timesteps,
    [999, 832, 666, 500, 333, 166, 0],
  );
  assertEquals(
    ddimSchedule({ ...SD21_SCHEDULER, timestepSpacing: "trailing" }, 7).timesteps,
    [999, 856, 713, 570, 428, 285, 142],
  );
  throws(
    () => ddimSchedule(SD21_SCHEDULER, 0),
    (e) => e instanceof ConfigError && e.message.includes("steps"),
  );
});

Deno.test("sdeditTimesteps() keeps the last floor(N·s) timesteps", () => {
  const s = ddimSchedule(SD21_SCHEDULER, 10);
  assertEquals(sdeditTimesteps(s, 0.6), [501, 401, 301, 201, 101, 1]);
  assertEquals(sdeditTimesteps(s, 0.65), [501, 401, 301, 201, 101, 1]);
  assertEquals(sdeditTimesteps(s, 1), s.timesteps);
  assertEquals(sdeditTimesteps(s, 0.05), []);
  throws(() => sdeditTimesteps(s, 0), (e) => e instanceof ConfigError && e.message.includes("strength"));
  throws(() => sdeditTimesteps(s, 1.5), (e) => e instanceof ConfigError && e.message.includes("strength"));
});

Deno.test("ddimStep() with v-prediction equals the worked values", () => {
  const s = ddimSchedule(SD21_SCHEDULER, 10);
  assertClose(
    ddimStep(s, { modelOutput: out, timestep: 501, sample: x }),
    [0.44733431732698864, -1.2009686334138303, 2.084454240619186],
    SAMPLE_TOL,
    "v step 501 → 401",
  );
  assertClose(
    ddimStep(s, { modelOutput: out, timestep: 1, sample: x }),
    [0.4963236816032848, -1.2011248633549212, 2.008345034051397],
    SAMPLE_TOL,
    "v step 1 → final (ᾱ_0)",
  );
});

Deno.test("ddimStep() with ε-prediction equals the worked values", () => {
  const s = ddimSchedule({ ...SD21_SCHEDULER, predictionType: "epsilon" }, 10);
  assertClose(
    ddimStep(s, { modelOutput: out, timestep: 501, sample: x }),
    [0.5311735566487636, -1.5176948986749688, 2.687461164600028],
    SAMPLE_TOL,
    "ε step 501 → 401",
  );
  assertClose(
    ddimStep(s, { modelOutput: out, timestep: 1, sample: x }),
    [0.4965711846826685, -1.2017273571734284, 2.0093547100435343],
    SAMPLE_TOL,
    "ε step 1 → final",
  );
});

Deno.test("ddimStep() returns x0 exactly when the model predicts the true v", () => {
  // Hand-worked identity: x_t = √ᾱ·x₀ + √(1−ᾱ)·ε and v = √ᾱ·ε − √(1−ᾱ)·x₀ give back x₀ and ε, so
  // the step lands on √ᾱ_prev·x₀ + √(1−ᾱ_prev)·ε, the forward process at the previous timestep.
  const s = ddimSchedule(SD21_SCHEDULER, 10);
  const x0 = new Float32Array([0.2, -0.4]), eps = new Float32Array([1.1, 0.3]);
  const a = s.alphasCumprod[701];
  const xt = addNoise(s, { sample: x0, noise: eps, timestep: 701 });
  const v = x0.map((x0i, i) => Math.sqrt(a) * eps[i] - Math.sqrt(1 - a) * x0i);
  assertClose(
    ddimStep(s, { modelOutput: v, timestep: 701, sample: xt }),
    addNoise(s, { sample: x0, noise: eps, timestep: 601 }),
    SAMPLE_TOL,
    "step of the exact v",
  );
});

Deno.test("addNoise() mixes sample and noise by the schedule", () => {
  const s = ddimSchedule(SD21_SCHEDULER, 10);
  assertClose(
    addNoise(s, { sample: x, noise: new Float32Array([1, -0.5, 0.25]), timestep: 501 }),
    [1.11367163344103, -1.055019174363305, 1.2616745352868168],
    SAMPLE_TOL,
    "add_noise at 501",
  );
  throws(
    () => addNoise(s, { sample: x, noise: x, timestep: 1000 }),
    (e) => e instanceof ConfigError && e.message.includes("Timestep"),
  );
});
