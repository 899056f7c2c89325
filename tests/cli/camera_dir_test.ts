/**
 * `adp camera --dir` over real folders: an MVTec `test/` tree with its defect-type subfolders (reached
 * through a symbolic link) and a folder of symbolic links to ELPV cells, in a deterministic order,
 * filtered by `--glob`, shuffled reproducibly by `--shuffle --seed`, published to a real nats-server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { folderImages } from "../../src/cli/_image_files.ts";
import { runCli as run } from "../_cli.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { Gather } from "../stream/_fixture.ts";

const BOTTLE_TEST = sharedPath("datasets/mvtec-ad/bottle/test");
const CELLS = ["cell0001.png", "cell0002.png", "cell0003.png"];

/** DIR/mvtec → bottle/test (a link to a tree), DIR/cells/ (links to files), DIR/notes.txt. */
async function cameraFolder(dir: string): Promise<void> {
  await Deno.symlink(BOTTLE_TEST, join(dir, "mvtec"));
  await Deno.mkdir(join(dir, "cells"));
  const defective = sharedPath("datasets/elpv/mono/test/defective");
  const cells = [...Deno.readDirSync(defective)].map((e) => e.name).sort().slice(0, 3);
  for (const [i, name] of cells.entries()) {
    await Deno.symlink(join(defective, name), join(dir, "cells", CELLS[i]));
  }
  await Deno.writeTextFile(join(dir, "notes.txt"), "not a frame");
}

/** Every PNG of bottle/test, by defect type then name, as the camera should find them under DIR/mvtec. */
function bottleTestFiles(dir: string): string[] {
  const out: string[] = [];
  for (const kind of [...Deno.readDirSync(BOTTLE_TEST)].map((e) => e.name).sort()) {
    for (const f of [...Deno.readDirSync(join(BOTTLE_TEST, kind))].map((e) => e.name).sort()) {
      if (f.endsWith(".png")) out.push(join(dir, "mvtec", kind, f));
    }
  }
  return out;
}

Deno.test({
  name: "folderImages() recurses, follows links, sorts by path, filters by glob and shuffles by seed",
  ...needsShared,
  async fn() {
    await using dir = await tempDir();
    await cameraFolder(dir.path);
    const all = await folderImages(dir.path);
    const expected = [...CELLS.map((c) => join(dir.path, "cells", c)), ...bottleTestFiles(dir.path)];
    assert.ok(expected.length > 60);
    assert.deepEqual(all, expected, "cells/ sorts before mvtec/, defect types by name");
    assert.deepEqual(await folderImages(dir.path, { glob: "cells/*.png" }), expected.slice(0, 3));
    const good = await folderImages(dir.path, { glob: "**/good/*.png" });
    assert.deepEqual(good, expected.filter((f) => f.includes("/good/")));
    assert.deepEqual(await folderImages(dir.path, { glob: "cell000[1]*" }), [], "no character classes");
    assert.deepEqual(
      await folderImages(dir.path, { glob: "cell0002.png" }),
      [expected[1]],
      "a name at any depth",
    );

    const a = await folderImages(dir.path, { shuffle: true, seed: 7 });
    const b = await folderImages(dir.path, { shuffle: true, seed: 7 });
    const c = await folderImages(dir.path, { shuffle: true, seed: 8 });
    assert.deepEqual(a, b, "the same seed, the same order");
    assert.notDeepEqual(a, all);
    assert.notDeepEqual(a, c);
    assert.deepEqual([...a].sort(), [...all].sort(), "a permutation: every file once");
  },
});

Deno.test({
  name: "adp camera --dir publishes a folder tree in its order, with --glob and --shuffle --seed",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using dir = await tempDir();
    await cameraFolder(dir.path);
    try {
      const client = await ns.connect("client");
      const frames = new Gather(client, "adp.frames.cam", (m) => ({
        id: m.headers!.get("Adp-Frame-Id"),
        size: m.data.length,
      }));
      await client.flush();
      const camera = (...flags: string[]) =>
        run(["camera", "--nats", ns.url, "--dir", dir.path, "--station", "cam", "--fps", "1000", ...flags]);
      const sizeOf = (f: string) => Deno.statSync(f).size;

      const cells = await camera("--glob", "cells/*", "--id-prefix", "g");
      assert.equal(cells.code, 0, cells.err);
      assert.match(cells.out, /published 3 frames of cam/);
      const shuffled = await camera("--shuffle", "--seed", "3", "--count", "5", "--id-prefix", "s");
      assert.equal(shuffled.code, 0, shuffled.err);
      await client.flush();
      const expected = [
        ...CELLS.map((c) => join(dir.path, "cells", c)),
        ...(await folderImages(dir.path, { shuffle: true, seed: 3 })).slice(0, 5),
      ];
      await frames.count(8);
      assert.deepEqual(frames.items.map((f) => f.id), [
        "g-0",
        "g-1",
        "g-2",
        "s-0",
        "s-1",
        "s-2",
        "s-3",
        "s-4",
      ]);
      assert.deepEqual(frames.items.map((f) => f.size), expected.map(sizeOf), "the files, in that order");

      frames.stop();
      const none = await camera("--glob", "*.jpg");
      assert.equal(none.code, 2);
      assert.equal(none.err, `adp camera: Folder ${dir.path} holds no PNG or JPEG images matching *.jpg`);
      const seedAlone = await camera("--seed", "3");
      assert.equal(seedAlone.code, 2);
      assert.match(seedAlone.err, /--seed orders a --shuffle/);
    } finally {
      await cleanup(ns);
    }
  },
});
