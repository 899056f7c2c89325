/**
 * `pullStableDiffusion()` against the local stand-in for the Hugging Face hub (tests/_fake_hub.ts),
 * serving the tiny random SD's files at the paths of the registered SD 2.1 repositories: the pull
 * fetches and verifies every file into a folder that loadStableDiffusion() opens and runs, and
 * refuses a file that does not match the hub's checksum.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  findPretrainedDiffusion,
  loadStableDiffusion,
  pullStableDiffusion,
  textEncoderFiles,
  writeTinyStableDiffusion,
} from "../../src/diffusion/mod.ts";
import { DownloadError, ErrorCode } from "../../src/errors.ts";
import { COMMIT, FakeHub, type FakeRepo } from "../_fake_hub.ts";
import { tempDir } from "../_temp_dir.ts";

const SD21 = findPretrainedDiffusion("sd-2.1")!;

/** The files of a tiny SD folder at `paths`, as a hub repository (weights and models through LFS). */
async function repoOf(
  dir: string,
  paths: readonly string[],
  rename: Record<string, string> = {},
): Promise<FakeRepo> {
  const files: FakeRepo["files"] = {};
  for (const path of paths) {
    files[path] = {
      bytes: await Deno.readFile(join(dir, rename[path] ?? path)),
      lfs: /\.(onnx|onnx_data|safetensors)$/.test(path),
    };
  }
  return { files };
}

async function servedTiny(source: string): Promise<Record<string, FakeRepo>> {
  await writeTinyStableDiffusion(source, { seed: 4 });
  return {
    [SD21.onnx.repo]: await repoOf(source, SD21.onnx.files),
    [SD21.textEncoder.repo]: await repoOf(source, [
      ...textEncoderFiles("fp32"),
      ...textEncoderFiles("fp16").slice(1),
    ], { "text_encoder/model.fp16.safetensors": "text_encoder/model.safetensors" }),
  };
}

Deno.test("pullStableDiffusion() fetches SD 2.1's parts, verified, into a folder that loads and runs", async () => {
  await using tmp = await tempDir("adp-sd-pull-");
  const repos = await servedTiny(join(tmp.path, "served"));
  await using hub = new FakeHub(repos);
  const dir = join(tmp.path, "pulled");
  const result = await pullStableDiffusion(SD21, dir, {
    endpoint: hub.endpoint,
    token: false,
    retryDelayMs: 0,
  });
  assert.deepEqual(result.sources.map((s) => [s.repo, s.commit]), [
    [SD21.onnx.repo, COMMIT],
    [SD21.textEncoder.repo, COMMIT],
  ]);
  const pulled = result.sources.flatMap((s) => s.files);
  assert.deepEqual(pulled.map((f) => f.file), [...SD21.onnx.files, ...textEncoderFiles("fp32")]);
  for (const f of pulled) {
    const served =
      repos[f.file.startsWith("text_encoder/") ? SD21.textEncoder.repo : SD21.onnx.repo].files[f.file];
    assert.deepEqual(await Deno.readFile(f.path), served.bytes, `${f.file} arrives byte for byte`);
    assert.equal(f.checksum.kind, served.lfs ? "sha256" : "git-sha1");
  }

  const sd = await loadStableDiffusion(dir, {
    device: "cpu",
    cacheDir: join(tmp.path, "cache"),
    log: () => {},
  });
  try {
    assert.equal(
      sd.config.scalingFactor,
      0.18215,
      "SD 2.x's scaling factor when the export has no VAE config",
    );
    assert.equal(sd.config.scheduler.predictionType, "v_prediction");
    const cond = await sd.conditioning(["a photo of a damaged sks"]);
    const v = await sd.predict(new Float32Array(4 * 2 * 2).fill(0.5), [1, 4, 2, 2], 501, cond);
    assert.ok(v.length === 16 && v.every(Number.isFinite));
  } finally {
    await sd.release();
  }

  // The fp16 text encoder is another file; what is already in place is not fetched again.
  const again = await pullStableDiffusion(SD21, dir, {
    endpoint: hub.endpoint,
    token: false,
    retryDelayMs: 0,
    precision: "fp16",
  });
  assert.deepEqual(
    again.sources.flatMap((s) => s.files).filter((f) => !f.skipped).map((f) => f.file),
    ["text_encoder/model.fp16.safetensors"],
  );
});

Deno.test("pullStableDiffusion() refuses a part whose bytes do not match the hub's checksum", async () => {
  await using tmp = await tempDir("adp-sd-pull-");
  await using hub = new FakeHub(await servedTiny(join(tmp.path, "served")));
  hub.behaviour.corrupt = new Set(["unet/model.onnx_data"]);
  await assert.rejects(
    pullStableDiffusion(SD21, join(tmp.path, "pulled"), {
      endpoint: hub.endpoint,
      token: false,
      retryDelayMs: 0,
    }),
    (e) =>
      e instanceof DownloadError && e.code === ErrorCode.WEIGHTS_CHECKSUM &&
      /unet\/model\.onnx_data/.test(e.message),
  );
});
