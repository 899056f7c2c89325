/**
 * Enrollment over the bus with Stable Diffusion pseudo-anomalies: `adp serve --sd-model` (the
 * processor's `sdModel`) with the tiny random SD, a request with `synth: "sd"`, the profile on disk
 * recording it; and a service whose folder is missing: one line at start, one per `sd` request,
 * and procedural profiles.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadProfile } from "../../src/adp/profile.ts";
import { writeTinyStableDiffusion } from "../../src/diffusion/mod.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { framesSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { bottle, enrollAndFeed, sendFrame, sleep, stateDirWith, tinyModel } from "./_fixture.ts";

/** 4 of 8 DDIM steps at 32 px: the tiny SD's 32 pseudo-anomalies in about a second. */
const FAST_SDEDIT = { strength: 0.5, steps: 8, guidance: 3, size: 32 };

async function enrollOnce(
  sdModel: string,
  log: (line: string) => void,
): Promise<{ synthesizer: string | undefined; stages: string[] }> {
  const ns = await setup({ jetstream: false });
  await using model = await tinyModel();
  const stateDir = await stateDirWith(model.clip, {});
  try {
    const svc = await ns.connect("service");
    const client = await ns.connect("client");
    const processor = await startProcessor(svc, {
      clip: model.clip,
      stateDir,
      sdModel,
      sdedit: FAST_SDEDIT,
      log,
    });
    const stages: string[] = [];
    const last = await enrollAndFeed(
      client,
      "line-1",
      { shots: 2, steps: 1, seed: 1, synth: "sd" },
      async (ended) => {
        for (let i = 0; !ended(); i++) {
          sendFrame(client, framesSubject("line-1"), await bottle(i % 8), `f-${i}`);
          await sleep(200);
        }
      },
      (p) => stages.push(p.stage),
    );
    assert.equal(last.stage, "done", last.error);
    await processor.stop();
    const profile = await loadProfile(join(stateDir, "profiles", "line-1.safetensors"));
    return { synthesizer: profile.meta.enrollment.synthesizer, stages: [...new Set(stages)] };
  } finally {
    await cleanup(ns);
    await Deno.remove(stateDir, { recursive: true });
  }
}

Deno.test({
  name: "a service with --sd-model enrolls with synth sd and the profile records it",
  ...needsShared,
  async fn() {
    await using tmp = await tempDir("adp-serve-sd-");
    await writeTinyStableDiffusion(tmp.path, { seed: 6 });
    const lines: string[] = [];
    const { synthesizer, stages } = await enrollOnce(tmp.path, (line) => lines.push(line));
    assert.equal(synthesizer, "sd");
    assert.deepEqual(stages.slice(0, 4), ["collecting", "features", "normal-concept", "pseudo-anomalies"]);
    assert.ok(lines.some((l) => l.startsWith(`sd pseudo-anomalies: Stable Diffusion from ${tmp.path}`)));
    assert.ok(!lines.some((l) => /procedural pseudo-anomalies instead/.test(l)), lines.join("\n"));
  },
});

Deno.test({
  name: "a service whose --sd-model is missing says so once, and sd requests run procedural",
  ...needsShared,
  async fn() {
    await using tmp = await tempDir("adp-serve-sd-");
    const lines: string[] = [];
    const { synthesizer } = await enrollOnce(join(tmp.path, "absent"), (line) => lines.push(line));
    assert.equal(synthesizer, "procedural");
    const fallback = lines.filter((l) => l.startsWith("sd pseudo-anomalies:"));
    assert.equal(fallback.length, 2, fallback.join("\n"));
    assert.match(fallback[0], /no usable Stable Diffusion in .*absent.*procedural pseudo-anomalies instead/);
    assert.match(fallback[1], /--synth sd asked for, but no Stable Diffusion model is loaded/);
  },
});
