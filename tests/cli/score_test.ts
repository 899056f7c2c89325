/**
 * `adp score` as a user runs it: a child process over a folder tree with a symbolic link, JSON lines
 * out, the same verdicts as the scorer in-process, a CSV report and heat maps written.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { createScorer, enroll, loadProfile, saveProfile } from "../../src/adp/mod.ts";
import { loadClip } from "../../src/model/mod.ts";
import { collectImages } from "../../src/cli/_image_files.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";

const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const BOTTLE = "datasets/mvtec-ad/bottle";

Deno.test({
  name:
    "adp score prints one JSON verdict per image of a folder tree, equal to the scorer's, and writes report and maps",
  ...needsShared,
  async fn() {
    await using dir = await tempDir();
    const model = sharedPath("fixtures/clip-oracle/tiny-gelu-hf");
    const clip = await loadClip(model, {
      device: "cpu",
      vocab: sharedPath("fixtures/clip-oracle/tokenizer"),
      cacheDir: join(dir.path, "cache"),
      log: () => {},
    });
    const images = join(dir.path, "images");
    await Deno.mkdir(join(images, "good"), { recursive: true });
    const names = { good: ["000", "001"], defect: ["000", "001"] };
    for (const n of names.good) {
      await Deno.copyFile(sharedPath(`${BOTTLE}/test/good/${n}.png`), join(images, "good", `${n}.png`));
    }
    await Deno.symlink(sharedPath(`${BOTTLE}/test/broken_large`), join(images, "defect"));
    const profileFile = join(dir.path, "line-1.safetensors");
    try {
      const shots = await Promise.all(
        ["000", "001"].map((n) => Deno.readFile(sharedPath(`${BOTTLE}/train/good/${n}.png`))),
      );
      await saveProfile(profileFile, await enroll(clip, shots, { steps: 1, seed: 2, station: "line-1" }));
      const files = await collectImages([images]);
      assert.equal(files.length, 2 + 20, "the symbolic link to broken_large is followed");
      const expected = await createScorer(clip, await loadProfile(profileFile))
        .score(await Promise.all(files.map((f) => Deno.readFile(f))));

      const report = join(dir.path, "report.csv"), maps = join(dir.path, "maps");
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          CLI,
          "score",
          "--profile",
          profileFile,
          "--images",
          images,
          "--model",
          model,
          "--device",
          "cpu",
          "--json",
          "--report",
          report,
          "--maps",
          maps,
        ],
        env: { ADP_CACHE_DIR: join(dir.path, "cache") },
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.image), files);
      for (const [i, line] of lines.entries()) {
        assert.deepEqual(Object.keys(line), ["image", "score", "threshold", "anomalous"]);
        assert.ok(
          Math.abs(line.score - expected[i].score) < 1e-9,
          `${line.image}: ${line.score} vs ${expected[i].score}`,
        );
        assert.equal(line.anomalous, line.score >= line.threshold);
        assert.equal(line.threshold, expected[i].threshold);
      }
      const csv = (await Deno.readTextFile(report)).trim().split("\n");
      assert.equal(csv.length, 1 + files.length);
      assert.equal(csv[0], "image,score,threshold,anomalous");
      assert.equal([...Deno.readDirSync(maps)].length, files.length);
    } finally {
      await clip.dispose();
    }
  },
});

Deno.test({
  name: "adp score refuses a missing profile flag and an empty image set with a usage exit code",
  ...needsShared,
  async fn() {
    await using dir = await tempDir();
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), { args: ["run", "-A", CLI, "score", ...args] }).output();
    const noProfile = await run(["--images", dir.path]);
    assert.equal(noProfile.code, 2);
    assert.match(new TextDecoder().decode(noProfile.stderr), /Missing --profile FILE, or --station S/);
    const file = join(dir.path, "p.safetensors");
    await Deno.writeFile(file, new Uint8Array(16));
    const badProfile = await run(["--profile", file, "--images", dir.path]);
    assert.equal(badProfile.code, 9, new TextDecoder().decode(badProfile.stderr));
  },
});

Deno.test("collectImages() expands a quoted glob within and across folders", async () => {
  await using dir = await tempDir();
  for (const f of ["a/x.png", "a/b/y.PNG", "a/b/z.jpg", "a/notes.txt"]) {
    await Deno.mkdir(join(dir.path, f, ".."), { recursive: true });
    await Deno.writeFile(join(dir.path, f), new Uint8Array(1));
  }
  assert.deepEqual(await collectImages([join(dir.path, "a/*.png")]), [join(dir.path, "a/x.png")]);
  assert.deepEqual(await collectImages([join(dir.path, "a/**/*.jpg")]), [join(dir.path, "a/b/z.jpg")]);
  assert.deepEqual((await collectImages([join(dir.path, "a")])).length, 3);
});
