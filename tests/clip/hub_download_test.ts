/**
 * pullModel() against a local stand-in for the Hugging Face hub: LFS files answer the resolve URL
 * with a 302 to a separate "CDN" server (another origin) carrying X-Linked-Etag / X-Linked-Size /
 * X-Repo-Commit; small files answer 200 with their git blob sha1 as ETag, as huggingface.co does.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { DownloadError, ErrorCode } from "../../src/errors.ts";
import { pullModel, type PullProgress } from "../../src/clip/hub_download.ts";
import { findPretrained, listPretrained } from "../../src/clip/pretrained.ts";
import { getArchitecture } from "../../src/clip/architectures.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { COMMIT, FakeHub, type FakeRepo, gitBlobSha1, sha256, text } from "../_fake_hub.ts";

const TOKEN = "hf_test_token";

/** The tiny HF-layout fixture, served as if it were openai/clip-vit-base-patch16. */
function hfRepo(): FakeRepo {
  const dir = sharedPath("fixtures", "clip-oracle", "tiny-gelu-hf");
  return {
    files: {
      "model.safetensors": { bytes: Deno.readFileSync(join(dir, "model.safetensors")), lfs: true },
      "config.json": { bytes: Deno.readFileSync(join(dir, "config.json")), lfs: false },
      "vocab.json": text('{"!": 0, "\\"": 1}'),
      "merges.txt": text("#version: 0.2\ni n\n"),
    },
  };
}

function openclipRepo(): FakeRepo {
  const dir = sharedPath("fixtures", "clip-oracle", "tiny-quickgelu-openclip");
  return {
    files: {
      "open_clip_model.safetensors": {
        bytes: Deno.readFileSync(join(dir, "open_clip_model.safetensors")),
        lfs: true,
      },
      "open_clip_config.json": { bytes: Deno.readFileSync(join(dir, "open_clip_config.json")), lfs: false },
      "open_clip_pytorch_model.bin": { bytes: new Uint8Array(64), lfs: true },
      "bpe_simple_vocab_16e6.txt.gz": {
        bytes: Deno.readFileSync(
          sharedPath("fixtures", "clip-oracle", "tokenizer", "bpe_simple_vocab_16e6.txt.gz"),
        ),
        lfs: true,
      },
      "README.md": text("# tiny\n"),
    },
  };
}

const FAST = { retryDelayMs: 0, token: false } as const;

async function assertSameFiles(dir: string, repo: FakeRepo, files: string[]): Promise<void> {
  for (const file of files) {
    const got = await Deno.readFile(join(dir, file));
    assert.ok(
      Buffer.from(got).equals(Buffer.from(repo.files[file].bytes)),
      `${file} differs from the served bytes`,
    );
  }
}

async function partFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".part")) names.push(e.name);
  return names;
}

Deno.test({
  name: "pullModel() fetches a registry model byte for byte through the hub's redirect to its CDN",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    await using tmp = await tempDir();
    const dir = tmp.path;
    const result = await pullModel("ViT-B-16:openai", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      token: TOKEN,
    });
    const files = ["model.safetensors", "config.json", "vocab.json", "merges.txt"];
    assert.deepEqual(result.files.map((f) => f.file), files);
    assert.equal(result.repo, "openai/clip-vit-base-patch16");
    assert.equal(result.commit, COMMIT);
    assert.equal(result.layout, "hf");
    await assertSameFiles(dir, repo, files);
    assert.deepEqual(result.files[0].checksum, {
      kind: "sha256",
      hex: sha256(repo.files["model.safetensors"].bytes),
    });
    assert.deepEqual(result.files[1].checksum, {
      kind: "git-sha1",
      hex: gitBlobSha1(repo.files["config.json"].bytes),
    });
    assert.ok(result.files.every((f) => !f.skipped));
    assert.deepEqual(await partFiles(dir), []);

    // The token goes to the hub only; the CDN's signed URLs need none.
    assert.ok(
      hub.log.filter((l) => l.server === "hub").every((l) => l.authorization === `Bearer ${TOKEN}`),
    );
    assert.ok(hub.cdnRequests().length === 1 && hub.cdnRequests()[0].authorization === null);
    // Once the first file revealed the commit, the rest are resolved at that commit.
    const resolved = hub.log.filter((l) => l.server === "hub" && l.method === "HEAD").map((l) => l.path);
    assert.ok(resolved[0].includes("/resolve/main/"));
    assert.ok(resolved.slice(1).every((p) => p.includes(`/resolve/${COMMIT}/`)));
  },
});

Deno.test({
  name: "pullModel() skips files already present with a matching checksum and replaces a stale one",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    await using tmp = await tempDir();
    const dir = tmp.path;
    await pullModel("openai/clip-vit-base-patch16", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      files: ["model.safetensors", "config.json"],
    });
    await Deno.writeTextFile(join(dir, "config.json"), '{"edited": true}');
    const before = hub.log.length;
    const again = await pullModel("openai/clip-vit-base-patch16", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      files: ["model.safetensors", "config.json"],
    });
    assert.deepEqual(again.files.map((f) => f.skipped), [true, false]);
    assert.equal(hub.log.slice(before).filter((l) => l.server === "cdn").length, 0);
    await assertSameFiles(dir, repo, ["model.safetensors", "config.json"]);
  },
});

Deno.test({
  name: "pullModel() resumes with a Range request when the connection drops midway",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    const blob = `/blobs/openai/clip-vit-base-patch16/${sha256(repo.files["model.safetensors"].bytes)}`;
    hub.behaviour.breakOnce = new Set([blob]);
    await using tmp = await tempDir();
    const dir = tmp.path;
    await pullModel("openai/clip-vit-base-patch16", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      files: ["model.safetensors"],
    });
    const gets = hub.cdnRequests();
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, null);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? "")?.[1]);
    assert.ok(
      resumedAt > 0 && resumedAt < repo.files["model.safetensors"].bytes.byteLength,
      `resumed at ${resumedAt}`,
    );
    await assertSameFiles(dir, repo, ["model.safetensors"]);
    assert.deepEqual(await partFiles(dir), []);
  },
});

Deno.test({
  name:
    "pullModel() resumes a .part file left by an earlier run, and starts over when the server ignores Range or the prefix is stale",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    const weights = repo.files["model.safetensors"].bytes;
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    await using tmp = await tempDir();
    const dir = tmp.path;
    const opts = { ...FAST, endpoint: hub.endpoint, files: ["model.safetensors"] };
    await Deno.writeFile(join(dir, "model.safetensors.part"), weights.subarray(0, 1000));
    await pullModel("openai/clip-vit-base-patch16", dir, opts);
    assert.equal(hub.cdnRequests()[0].range, "bytes=1000-");
    await assertSameFiles(dir, repo, ["model.safetensors"]);

    await Deno.remove(join(dir, "model.safetensors"));
    await Deno.writeFile(join(dir, "model.safetensors.part"), weights.subarray(0, 5000));
    hub.behaviour.ignoreRange = true;
    const seen: PullProgress[] = [];
    await pullModel("openai/clip-vit-base-patch16", dir, { ...opts, onProgress: (p) => seen.push(p) });
    assert.equal(hub.cdnRequests().at(-1)?.range, "bytes=5000-");
    await assertSameFiles(dir, repo, ["model.safetensors"]);
    assert.equal(seen.at(-1)?.received, weights.byteLength);

    // A .part from another version of the file fails its checksum once resumed; one clean download follows.
    await Deno.remove(join(dir, "model.safetensors"));
    await Deno.writeFile(join(dir, "model.safetensors.part"), new Uint8Array(1000));
    hub.behaviour.ignoreRange = false;
    const before = hub.cdnRequests().length;
    await pullModel("openai/clip-vit-base-patch16", dir, opts);
    assert.deepEqual(hub.cdnRequests().slice(before).map((l) => l.range), ["bytes=1000-", null]);
    await assertSameFiles(dir, repo, ["model.safetensors"]);
  },
});

Deno.test({
  name: "pullModel() drops a stalled transfer and resumes it",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    hub.behaviour.stallOnce = new Set([
      `/blobs/openai/clip-vit-base-patch16/${sha256(repo.files["model.safetensors"].bytes)}`,
    ]);
    await using tmp = await tempDir();
    const dir = tmp.path;
    await pullModel("openai/clip-vit-base-patch16", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      files: ["model.safetensors"],
      stallTimeoutMs: 300,
    });
    assert.match(hub.cdnRequests()[1].range ?? "", /^bytes=[1-9]\d*-$/);
    await assertSameFiles(dir, repo, ["model.safetensors"]);
  },
});

Deno.test({
  name: "pullModel() refuses a download whose checksum does not match and leaves no file behind",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    await using tmp = await tempDir();
    const dir = tmp.path;
    for (const file of ["model.safetensors", "config.json"]) {
      hub.behaviour.corrupt = new Set([file]);
      const err = await pullModel("openai/clip-vit-base-patch16", dir, {
        ...FAST,
        endpoint: hub.endpoint,
        files: [file],
      })
        .then(() => undefined, (e) => e);
      assert.ok(err instanceof DownloadError, String(err));
      assert.equal(err.code, ErrorCode.WEIGHTS_CHECKSUM);
      assert.match(
        err.message,
        new RegExp(`^Checksum mismatch for ${file} from openai/clip-vit-base-patch16: `),
      );
      await assert.rejects(Deno.stat(join(dir, file)), Deno.errors.NotFound);
      assert.deepEqual(await partFiles(dir), []);
    }
  },
});

Deno.test({
  name: "pullModel() names the repository and file when the hub answers 404",
  ...needsShared,
  async fn() {
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": hfRepo() });
    await using tmp = await tempDir();
    const dir = tmp.path;
    const missingFile = pullModel("openai/clip-vit-base-patch16", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      files: ["weights/missing.safetensors"],
    });
    await assert.rejects(missingFile, {
      name: "DownloadError",
      code: ErrorCode.DOWNLOAD_FAILED,
      message: "File not found in openai/clip-vit-base-patch16 at revision main: weights/missing.safetensors",
    });
    const missingRevision = pullModel("openai/clip-vit-base-patch16", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      revision: "v9",
      files: ["config.json"],
    });
    await assert.rejects(missingRevision, {
      message: "Revision not found in openai/clip-vit-base-patch16: v9",
    });
    const missingRepo = pullModel("nobody/nothing", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      token: TOKEN,
      files: ["config.json"],
    });
    await assert.rejects(missingRepo, {
      message: `Repository not found on ${hub.endpoint}: nobody/nothing`,
    });
    const anonymous = pullModel("nobody/nothing", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      files: ["config.json"],
    });
    await assert.rejects(
      anonymous,
      /^DownloadError: Repository not found .*: nobody\/nothing \(if it is private or gated, set HF_TOKEN\)$/,
    );
  },
});

Deno.test({
  name:
    "pullModel() tells to set HF_TOKEN when a gated model answers 401 or 403, and succeeds with the token",
  ...needsShared,
  async fn() {
    const repo = { ...hfRepo(), gatedToken: TOKEN };
    await using hub = new FakeHub({ "org/gated": repo });
    await using tmp = await tempDir();
    const dir = tmp.path;
    const opts = { ...FAST, endpoint: hub.endpoint, files: ["config.json"] };
    await assert.rejects(pullModel("org/gated", dir, opts), {
      message:
        "Access to org/gated is refused: the model is gated or private, set HF_TOKEN to a Hugging Face access token that can read it",
    });
    await assert.rejects(pullModel("org/gated", dir, { ...opts, token: "hf_other" }), (e: Error) => {
      assert.match(e.message, /^Access to org\/gated is refused for this token: .*HF_TOKEN$/);
      return true;
    });
    const ok = await pullModel("org/gated", dir, { ...opts, token: TOKEN });
    assert.equal(ok.files[0].skipped, false);
  },
});

Deno.test({
  name: "pullModel() reports progress that only grows and ends at each file's size",
  ...needsShared,
  async fn() {
    const repo = hfRepo();
    await using hub = new FakeHub({ "openai/clip-vit-base-patch16": repo });
    hub.behaviour.breakOnce = new Set([
      `/blobs/openai/clip-vit-base-patch16/${sha256(repo.files["model.safetensors"].bytes)}`,
    ]);
    await using tmp = await tempDir();
    const dir = tmp.path;
    const seen: PullProgress[] = [];
    await pullModel("ViT-B-16:openai", dir, {
      ...FAST,
      endpoint: hub.endpoint,
      onProgress: (p) => seen.push(p),
    });
    for (const [file, { bytes }] of Object.entries(repo.files)) {
      const mine = seen.filter((p) => p.file === file);
      assert.ok(mine.length >= 2, `${file}: ${mine.length} reports`);
      for (let i = 1; i < mine.length; i++) {
        assert.ok(mine[i].received >= mine[i - 1].received, `${file} went back`);
      }
      assert.ok(mine.every((p) => p.total === bytes.byteLength && p.bytesPerSecond >= 0));
      assert.equal(mine.at(-1)?.received, bytes.byteLength);
    }
  },
});

Deno.test({
  name: "pullModel() picks the safetensors checkpoint of an unlisted repository from the hub's file list",
  ...needsShared,
  async fn() {
    const repo = openclipRepo();
    await using hub = new FakeHub({ "someone/tiny-openclip": repo });
    await using tmp = await tempDir();
    const dir = tmp.path;
    const result = await pullModel("someone/tiny-openclip", dir, { ...FAST, endpoint: hub.endpoint });
    const files = ["open_clip_model.safetensors", "open_clip_config.json", "bpe_simple_vocab_16e6.txt.gz"];
    assert.deepEqual(result.files.map((f) => f.file), files);
    assert.equal(result.layout, "openclip");
    await assertSameFiles(dir, repo, files);
  },
});

Deno.test("pullModel() rejects an unknown name and a file path that leaves the folder", async () => {
  await assert.rejects(pullModel("ViT-Z-99", "/nonexistent", { ...FAST, endpoint: "http://127.0.0.1:9" }), {
    code: ErrorCode.USAGE,
    message:
      /^Unknown model: ViT-Z-99: give a registry name \(ViT-B-16:openai, .*\) or a Hugging Face repository id such as owner\/name$/,
  });
  await assert.rejects(
    pullModel("owner/name", "/nonexistent", { ...FAST, endpoint: "http://127.0.0.1:9", files: ["../evil"] }),
    { code: ErrorCode.USAGE, message: 'Unsafe file path for owner/name: "../evil"' },
  );
});

Deno.test("pullModel() gives up on an unreachable hub after its retries with a clear message", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  // Port 9 (discard) is closed on loopback, so the connection is refused at once.
  const err = await pullModel("owner/name", dir, {
    ...FAST,
    endpoint: "http://127.0.0.1:9",
    retries: 2,
    files: ["config.json"],
  })
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof DownloadError);
  assert.match(err.message, /^Resolving config\.json failed after 3 tries: Cannot reach 127\.0\.0\.1:9: /);
  assert.ok(err.cause instanceof Error);
});

Deno.test("listPretrained() entries fetch safetensors in their layout and agree with their architecture", () => {
  const layoutFiles: Record<string, string[]> = {
    openclip: ["open_clip_model.safetensors", "open_clip_config.json"],
    hf: ["model.safetensors", "config.json"],
  };
  for (const m of listPretrained()) {
    assert.match(m.repo, /^[\w.-]+\/[\w.-]+$/, m.name);
    assert.deepEqual([m.files.weights, m.files.config], layoutFiles[m.layout], m.name);
    assert.ok(
      ["vocab.json,merges.txt", "bpe_simple_vocab_16e6.txt.gz"].includes(m.files.tokenizer.join(",")),
      `${m.name}: tokenizer ${m.files.tokenizer}`,
    );
    assert.equal(m.activation, getArchitecture(m.architecture).activation, m.name);
    assert.equal(findPretrained(m.name), m);
    assert.equal(findPretrained(m.repo), m);
  }
});
