/**
 * Enrollment and scoring end to end on a real architecture (the tiny oracle model, random weights)
 * and real MVTec bottle images; profiles saved, refused when broken, and never half-written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { enroll } from "../../src/adp/enroll.ts";
import { ENROLL_STAGES, type EnrollProgress } from "../../src/adp/enroll_progress.ts";
import { createScorer } from "../../src/adp/scorer.ts";
import {
  loadProfile,
  PROFILE_FORMAT_VERSION,
  saveProfile,
  type StationProfile,
} from "../../src/adp/profile.ts";
import { loadClip } from "../../src/model/clip_model.ts";
import { openSafetensors, writeSafetensors } from "../../src/clip/mod.ts";
import { ImageError, ProfileError } from "../../src/errors.ts";
import { PATCH_DEFAULTS } from "../../src/adp/patch/patch_memory.ts";
import { prepareFrame } from "../../src/adp/frame_input.ts";
import { decodeImage } from "../../src/image/decode.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { modelDirWithVocab } from "../model/_oracle.ts";

const BOTTLE = "datasets/mvtec-ad/bottle";

/** A profile's metadata as JSON, for writing older or broken files by hand. */
interface MetaJson {
  formatVersion: number;
  patch: Record<string, unknown> & { extractor: Record<string, unknown> };
}

/** Writes the profile at `source` again as `target`, its metadata edited; returns `target`. */
async function rewriteMeta(source: string, target: string, edit: (meta: MetaJson) => void): Promise<string> {
  using reader = await openSafetensors(source);
  const meta = JSON.parse(reader.metadata["adp.profile"]);
  edit(meta);
  const tensors = await Promise.all([...reader.header.keys()].map(async (name) => {
    const t = await reader.read(name);
    return { name, shape: t.shape, dtype: "F32" as const, data: t.data };
  }));
  await writeSafetensors(target, tensors, { metadata: { "adp.profile": JSON.stringify(meta) } });
  return target;
}

async function withEnrolled(
  fn: (
    ctx: {
      profile: StationProfile;
      progress: EnrollProgress[];
      clip: Awaited<ReturnType<typeof loadClip>>;
      root: string;
    },
  ) => Promise<void>,
): Promise<void> {
  await using fixture = await modelDirWithVocab("tiny-gelu-hf");
  const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
  try {
    const shots = await Promise.all(
      [0, 1, 2, 3].map((i) => Deno.readFile(sharedPath(`${BOTTLE}/train/good/00${i}.png`))),
    );
    const progress: EnrollProgress[] = [];
    const profile = await enroll(clip, shots, {
      steps: 3,
      seed: 5,
      label: "bottle",
      station: "line-1",
      onProgress: (p) => progress.push(p),
    });
    await fn({ profile, progress, clip, root: fixture.root });
  } finally {
    await clip.dispose();
  }
}

Deno.test({
  name: "enroll() reports every stage in order with a rising percentage, then a complete profile",
  ...needsShared,
  async fn() {
    await withEnrolled(({ profile, progress, clip }) => {
      const stages = [...new Set(progress.map((p) => p.stage))];
      assert.deepEqual(stages, [...ENROLL_STAGES]);
      for (let i = 1; i < progress.length; i++) {
        assert.ok(progress[i].percent >= progress[i - 1].percent - 1e-9);
      }
      assert.equal(progress.at(-1)!.percent, 100);
      assert.ok(
        progress.some((p) => p.loss !== undefined && p.step !== undefined),
        "concept steps report their loss",
      );
      assert.equal(profile.meta.enrollment.shots, 4);
      assert.equal(profile.meta.station, "line-1");
      assert.equal(profile.meta.model.precision, clip.precision, "the vision graph's precision is recorded");
      assert.equal(profile.meta.enrollment.losses.normal.length, 3);
      assert.ok(Object.keys(profile.meta.selfTuning.weights).includes("label:bottle"));
      const weightSum = Object.values(profile.meta.selfTuning.weights).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(weightSum - 1) < 1e-9);
      // Calibration: no enrolled good part is over the threshold.
      assert.ok(profile.meta.calibration.normalScores.every((s) => s < profile.meta.threshold));
      return Promise.resolve();
    });
  },
});

Deno.test({
  name: "createScorer() scores a defective bottle above a good one and maps the frame",
  ...needsShared,
  async fn() {
    await withEnrolled(async ({ profile, clip }) => {
      const scorer = createScorer(clip, profile);
      try {
        const files = ["test/good/000.png", "test/broken_small/002.png", "test/contamination/003.png"];
        const scores = await scorer.score(
          await Promise.all(files.map((f) => Deno.readFile(sharedPath(`${BOTTLE}/${f}`)))),
        );
        assert.ok(
          scores[1].score > scores[0].score && scores[2].score > scores[0].score,
          JSON.stringify(scores.map((s) => s.score)),
        );
        for (const s of scores) {
          assert.equal(s.map.length, s.mapWidth * s.mapHeight);
          assert.equal(s.mapWidth, 256); // 900×900 frames, map capped at 256
          assert.equal(s.anomalous, s.score >= s.threshold);
        }
        scorer.setThreshold(-1e9);
        assert.ok(
          (await scorer.score([await Deno.readFile(sharedPath(`${BOTTLE}/test/good/001.png`))]))[0].anomalous,
        );
      } finally {
        await scorer.dispose();
      }
    });
  },
});

Deno.test({
  name: "enroll() names the image that cannot be decoded",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
    try {
      const good = await Deno.readFile(sharedPath(`${BOTTLE}/train/good/000.png`));
      await assert.rejects(() => enroll(clip, [good, good.subarray(0, 500)], { steps: 1 }), (e: Error) => {
        assert.ok(e instanceof ImageError && e.message.includes("image 2 of 2"), e.message);
        return true;
      });
    } finally {
      await clip.dispose();
    }
  },
});

Deno.test({
  name: "saveProfile() and loadProfile() round-trip; broken, foreign and newer files are refused",
  ...needsShared,
  async fn() {
    await withEnrolled(async ({ profile, root }) => {
      const path = join(root, "line-1.safetensors");
      await saveProfile(path, profile);
      const back = await loadProfile(path);
      assert.deepEqual(back.meta, profile.meta);
      assert.deepEqual(back.memory, profile.memory);
      assert.deepEqual(back.concepts.anomaly, profile.concepts.anomaly);

      const bytes = await Deno.readFile(path);
      const truncated = join(root, "truncated.safetensors");
      await Deno.writeFile(truncated, bytes.subarray(0, bytes.length - 100));
      await assert.rejects(
        () => loadProfile(truncated),
        (e: Error) => e instanceof ProfileError && e.message.includes(truncated),
      );

      const foreign = join(root, "model.safetensors");
      await assert.rejects(() => loadProfile(join(root, "model", "model.safetensors")), ProfileError);
      await Deno.writeFile(foreign, new TextEncoder().encode("not a profile at all"));
      await assert.rejects(() => loadProfile(foreign), ProfileError);

      const newer = await rewriteMeta(path, join(root, "newer.safetensors"), (meta) => {
        meta.formatVersion = PROFILE_FORMAT_VERSION + 1;
      });
      await assert.rejects(
        () => loadProfile(newer),
        (e: Error) => e instanceof ProfileError && e.message.includes("newer"),
      );

      // A format-1 file (before test views, self-reference and intensity) reads as it then scored.
      const older = await rewriteMeta(path, join(root, "format-1.safetensors"), (meta) => {
        meta.formatVersion = 1;
        delete meta.patch.testViews;
        delete meta.patch.selfRadius;
        delete meta.patch.edgeExcess;
      });
      const migrated = await loadProfile(older);
      assert.deepEqual(migrated.meta.patch.testViews, ["identity"]);
      assert.equal(migrated.meta.patch.selfRadius, null);
      assert.deepEqual(migrated.meta.patch.edgeExcess, []);
      assert.equal(migrated.meta.formatVersion, PROFILE_FORMAT_VERSION);

      // A format-2 file (before the edge excess) scores with none.
      const format2 = await rewriteMeta(path, join(root, "format-2.safetensors"), (meta) => {
        meta.formatVersion = 2;
        delete meta.patch.edgeExcess;
      });
      assert.deepEqual((await loadProfile(format2)).meta.patch.edgeExcess, []);

      // A save that fails validation leaves the previous profile as it was.
      const broken = { ...profile, memory: new Float32Array(3) };
      await assert.rejects(() => saveProfile(path, broken), ProfileError);
      assert.deepEqual(await Deno.readFile(path), bytes);
    });
  },
});

Deno.test({
  name:
    "enroll() with an ONNX backbone scores through its test views with self-reference, and calibrates one shot on its views so good parts pass",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
    try {
      const shot = await Deno.readFile(sharedPath(`${BOTTLE}/train/good/000.png`));
      const profile = await enroll(clip, [shot], {
        steps: 2,
        seed: 3,
        backbone: sharedPath("models/proxy/backbone.json"),
      });
      const { patch, calibration, fusion } = profile.meta;
      assert.deepEqual(patch.testViews, [...PATCH_DEFAULTS.testViews]);
      assert.deepEqual(patch.views, [...PATCH_DEFAULTS.memoryViews]);
      assert.equal(patch.selfRadius, PATCH_DEFAULTS.selfRadius);
      assert.equal(patch.extractor.kind === "onnx" && patch.extractor.intensity, "auto");
      assert.equal(patch.extractor.kind === "onnx" && patch.extractor.pool, PATCH_DEFAULTS.pool);
      // The edge rings' excess, measured on the shot's views: a bottle's edge is plain background.
      assert.equal(patch.edgeExcess.length, PATCH_DEFAULTS.edgeRings);
      assert.ok(
        patch.edgeExcess.every((x) => Number.isFinite(x) && Math.abs(x) < 0.5),
        `${patch.edgeExcess}`,
      );
      // One shot: each of its four views scored against a memory of the other three.
      assert.equal(calibration.normalScores.length, 4);
      assert.ok(fusion.patchStd > 0.05 * fusion.patchMean, JSON.stringify(fusion));
      const scorer = createScorer(clip, profile);
      try {
        const read = (f: string) => Deno.readFile(sharedPath(`${BOTTLE}/test/${f}`));
        const good = await scorer.score(
          await Promise.all([0, 1, 2, 3, 4].map((i) => read(`good/00${i}.png`))),
        );
        const broken = await scorer.score(
          await Promise.all([0, 1, 2].map((i) => read(`broken_large/00${i}.png`))),
        );
        assert.deepEqual(
          good.map((s) => s.anomalous),
          [false, false, false, false, false],
          JSON.stringify(good.map((s) => s.score)),
        );
        assert.deepEqual(
          broken.map((s) => s.anomalous),
          [true, true, true],
          JSON.stringify(broken.map((s) => s.score)),
        );
        // A frame prepared without the backbone's input (for another profile) is refused, not misread.
        const frame = await decodeImage(await read("good/000.png"));
        const clipOnly = prepareFrame(frame, { clip: scorer.preparation.clip, patchInputs: [] });
        await assert.rejects(() => scorer.scorePrepared([clipOnly]), /not prepared for patch input onnx:/);

        // A format-3 file, from before the pool was recorded, was extracted with 3×3 neighbourhoods:
        // it reads so, and its scorer extracts that way (another score for the same frame).
        await using tmp = await tempDir("adp-pool-");
        const saved = join(tmp.path, "onnx.safetensors");
        await saveProfile(saved, profile);
        const format3 = await loadProfile(
          await rewriteMeta(saved, join(tmp.path, "format-3.safetensors"), (meta) => {
            meta.formatVersion = 3;
            delete meta.patch.extractor.pool;
          }),
        );
        assert.equal(format3.meta.patch.extractor.kind === "onnx" && format3.meta.patch.extractor.pool, 3);
        const pooled = createScorer(clip, format3);
        try {
          const [asEnrolled] = await scorer.score([await read("good/000.png")]);
          const [withPool3] = await pooled.score([await read("good/000.png")]);
          assert.notEqual(withPool3.score, asEnrolled.score);
        } finally {
          await pooled.dispose();
        }
        await assert.rejects(
          async () =>
            loadProfile(
              await rewriteMeta(saved, join(tmp.path, "even.safetensors"), (meta) => {
                meta.patch.extractor.pool = 2;
              }),
            ),
          (e: Error) => e instanceof ProfileError && e.message.includes("patch.extractor.pool"),
        );
      } finally {
        await scorer.dispose();
      }
    } finally {
      await clip.dispose();
    }
  },
});

Deno.test({
  name:
    "enroll() at int8 quantises the ONNX backbone and records it; the saved profile reloads and scores the same way",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const clip = await loadClip(fixture.dir, {
      device: "cpu",
      precision: "int8",
      cacheDir: fixture.cacheDir,
      log: () => {},
    });
    try {
      const shots = await Promise.all(
        [0, 1].map((i) => Deno.readFile(sharedPath(`${BOTTLE}/train/good/00${i}.png`))),
      );
      const profile = await enroll(clip, shots, {
        steps: 2,
        seed: 3,
        backbone: sharedPath("models/proxy/backbone.json"),
      });
      const { extractor } = profile.meta.patch;
      assert.equal(extractor.kind === "onnx" && extractor.precision, "int8");
      const path = join(fixture.dir, "int8.safetensors");
      await saveProfile(path, profile);
      const back = await loadProfile(path);
      assert.deepEqual(back.meta.patch.extractor, extractor);
      const scorer = createScorer(clip, back);
      try {
        const read = (f: string) => Deno.readFile(sharedPath(`${BOTTLE}/test/${f}`));
        const scores = await scorer.score([await read("good/000.png"), await read("broken_large/000.png")]);
        assert.deepEqual(
          scores.map((s) => s.anomalous),
          [false, true],
          JSON.stringify(scores.map((s) => s.score)),
        );
      } finally {
        await scorer.dispose();
      }
    } finally {
      await clip.dispose();
    }
  },
});
