/**
 * The MVTec-layout reader on the real folders in ../shared and on malformed temporary trees.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { loadImage, loadMask, readMvtecDataset, sampleShots } from "../../src/eval/datasets.ts";
import { ConfigError, ImageError } from "../../src/errors.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";

Deno.test({
  name: "readMvtecDataset() lists bottle's images, defects and masks in sorted order",
  ...needsShared,
  async fn() {
    const d = await readMvtecDataset(sharedPath("datasets/mvtec-ad/bottle"));
    assert.equal(d.category, "bottle");
    assert.equal(d.train.length, 48);
    assert.ok(d.train[0].endsWith("train/good/000.png"));
    assert.deepEqual(d.defects, ["broken_large", "broken_small", "contamination"]);
    assert.equal(d.test.length, 83);
    assert.equal(d.test[0].defect, "good");
    const anomalous = d.test.filter((s) => s.label === 1);
    assert.equal(anomalous.length, 63);
    assert.ok(anomalous.every((s) => s.maskPath && existsSync(s.maskPath)));
    assert.ok(d.test.filter((s) => s.label === 0).every((s) => s.maskPath === undefined));
    const sample = anomalous[0];
    const image = await loadImage(sample.path);
    const mask = await loadMask(sample, image);
    assert.deepEqual([mask.width, mask.height, mask.channels], [900, 900, 1]);
    assert.ok(mask.data.some((v) => v > 0) && mask.data.some((v) => v === 0));
  },
});

Deno.test({
  name: "readMvtecDataset() reads magnetic tile's JPEG layout with its own mask names",
  ...needsShared,
  async fn() {
    const d = await readMvtecDataset(sharedPath("datasets/magnetic-tile/tile"));
    assert.equal(d.train.length, 100);
    assert.equal(d.test.length, 492);
    assert.deepEqual(d.defects, ["blowhole", "break", "crack", "fray", "uneven"]);
    const crack = d.test.find((s) => s.defect === "crack")!;
    assert.ok(crack.maskPath!.endsWith(crack.path.split("/").pop()!.replace(".jpg", "_mask.png")));
  },
});

Deno.test({
  name: "readMvtecDataset() reads ELPV: image labels only, no masks",
  ...needsShared,
  async fn() {
    for (const kind of ["mono", "poly"]) {
      const d = await readMvtecDataset(sharedPath("datasets/elpv", kind));
      assert.deepEqual(d.defects, ["defective"]);
      assert.equal(d.test.filter((s) => s.label === 0).length, 100);
      assert.equal(d.test.filter((s) => s.label === 1).length, 100);
      assert.ok(d.test.every((s) => s.maskPath === undefined));
    }
  },
});

Deno.test("readMvtecDataset() follows symbolic links to files and folders", async () => {
  const source = await makeTree();
  await using linkDir = await tempDir("adp-dataset-links-");
  const root = linkDir.path;
  try {
    for (const file of ["train/good/a.png", "train/good/b.png", "test/scratch/y.png"]) {
      await Deno.mkdir(join(root, file, ".."), { recursive: true });
      await Deno.symlink(join(source, file), join(root, file));
    }
    await Deno.symlink(join(source, "test/good"), join(root, "test/good"));
    await Deno.symlink(join(source, "ground_truth"), join(root, "ground_truth"));
    await Deno.symlink(join(source, "nowhere.png"), join(root, "train/good/dangling.png"));
    const d = await readMvtecDataset(root);
    assert.deepEqual(d.train.map((p) => p.slice(root.length)), ["/train/good/a.png", "/train/good/b.png"]);
    assert.deepEqual(d.test.map((s) => [s.defect, s.label, Boolean(s.maskPath)]), [
      ["good", 0, false],
      ["scratch", 1, true],
    ]);
  } finally {
    await Deno.remove(source, { recursive: true });
  }
});

/** A small valid tree: 3 train images, 1 good and 1 defect test image, and the defect's mask. */
async function makeTree(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "adp-dataset-" });
  const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47); // names are what is read; pixels only on demand
  for (
    const file of [
      "train/good/a.png",
      "train/good/b.png",
      "train/good/c.png",
      "test/good/x.png",
      "test/scratch/y.png",
      "ground_truth/scratch/y_mask.png",
    ]
  ) {
    await Deno.mkdir(join(root, file, ".."), { recursive: true });
    await Deno.writeFile(join(root, file), png);
  }
  return root;
}

async function expectConfigError(root: string, pattern: RegExp): Promise<void> {
  await assert.rejects(
    () => readMvtecDataset(root),
    (e) => e instanceof ConfigError && pattern.test(e.message),
  );
}

Deno.test("readMvtecDataset() accepts a minimal tree and names the path of each malformation", async () => {
  const root = await makeTree();
  try {
    const d = await readMvtecDataset(root);
    assert.equal(d.train.length, 3);
    assert.deepEqual(d.test.map((s) => [s.defect, s.label]), [["good", 0], ["scratch", 1]]);

    await Deno.remove(join(root, "ground_truth/scratch/y_mask.png"));
    await expectConfigError(root, /no mask: .*y\.png needs .*ground_truth\/scratch\/y_mask\.png/);
    await Deno.remove(join(root, "ground_truth/scratch"), { recursive: true });
    await expectConfigError(root, /missing: .*ground_truth\/scratch should hold the scratch masks/);
    // Without any ground_truth/ the set is labelled per image only (issue 11: ELPV): no masks.
    await Deno.remove(join(root, "ground_truth"), { recursive: true });
    const unmasked = await readMvtecDataset(root);
    assert.deepEqual(unmasked.test.map((s) => [s.defect, s.label, s.maskPath]), [
      ["good", 0, undefined],
      ["scratch", 1, undefined],
    ]);
    await Deno.mkdir(join(root, "ground_truth/scratch"), { recursive: true });
    await Deno.writeFile(join(root, "ground_truth/scratch/y_mask.png"), new Uint8Array(1));

    await Deno.rename(join(root, "test/good"), join(root, "test/ok"));
    await expectConfigError(root, /no normal test images: .*test\/good is missing/);
    await Deno.rename(join(root, "test/ok"), join(root, "test/good"));

    await Deno.remove(join(root, "test/scratch"), { recursive: true });
    await expectConfigError(root, /no defect folders/);
    await Deno.mkdir(join(root, "test/scratch"));
    await expectConfigError(root, /Test folder is empty: .*test\/scratch/);

    await Deno.remove(join(root, "train"), { recursive: true });
    await expectConfigError(root, /missing: .*train\/good should hold the normal training images/);
    await Deno.mkdir(join(root, "train/good"), { recursive: true });
    await Deno.writeFile(join(root, "train/good/notes.txt"), new Uint8Array(1));
    await expectConfigError(root, /no normal training images/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadMask() refuses a mask whose size differs from its image", async () => {
  await using rootDir = await tempDir("adp-mask-");
  const root = rootDir.path;
  const { Image } = await import("imagescript");
  await Deno.writeFile(join(root, "m.png"), await new Image(4, 3).encode());
  const sample = {
    path: join(root, "i.png"),
    defect: "x",
    label: 1 as const,
    maskPath: join(root, "m.png"),
  };
  await assert.rejects(() => loadMask(sample, { width: 5, height: 3 }), ImageError);
  const empty = await loadMask({ path: "g.png", defect: "good", label: 0 }, { width: 2, height: 2 });
  assert.deepEqual([...empty.data], [0, 0, 0, 0]);
});

Deno.test("sampleShots() draws distinct images reproducibly, each K extending the smaller draws", () => {
  const files = Array.from({ length: 100 }, (_, i) => `${i}.png`);
  const draw16 = sampleShots(files, { k: 16, seed: 1 });
  assert.equal(new Set(draw16).size, 16);
  assert.deepEqual(sampleShots(files, { k: 16, seed: 1 }), draw16);
  assert.deepEqual(sampleShots(files, { k: 4, seed: 1 }), draw16.slice(0, 4));
  assert.notDeepEqual(sampleShots(files, { k: 16, seed: 2 }), draw16);
  assert.throws(() => sampleShots(files, { k: 0, seed: 0 }), ConfigError);
  assert.throws(() => sampleShots(files, { k: 101, seed: 0 }), ConfigError);
  assert.throws(() => sampleShots(files, { k: 1.5, seed: 0 }), ConfigError);
});
