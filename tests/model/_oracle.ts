/**
 * The oracle fixtures as temporary model directories: the checkpoint files plus the BPE vocabulary
 * (which the project does not vendor, and the fixture keeps apart), and a private graph cache.
 *
 * @module
 */
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasShared, sharedPath } from "../_shared.ts";
import { openCheckpoint } from "../../src/clip/checkpoint.ts";
import { writeCheckpoint } from "../../src/clip/checkpoint_writer.ts";
import type { CheckpointLayout } from "../../src/clip/mod.ts";

/** An oracle model in one checkpoint layout: its folder, the layout, and its reference.json. */
export interface OracleModel {
  /** The fixture folder under clip-oracle/. */
  name: string;
  layout: CheckpointLayout;
  // deno-lint-ignore no-explicit-any
  reference: any;
}

const FIXTURE_LAYOUT: Record<string, CheckpointLayout> = {
  "tiny-quickgelu-openclip": "openclip",
  "tiny-gelu-hf": "hf",
};

/**
 * Both oracle models in both layouts: each as stored, and each rewritten (float32, so exactly) in the
 * other layout. An empty list when ../shared is absent outside CI.
 */
export function oracleModels(): OracleModel[] {
  if (!hasShared()) return [];
  return Object.keys(FIXTURE_LAYOUT).flatMap((name) => {
    const reference = JSON.parse(
      Deno.readTextFileSync(sharedPath("fixtures/clip-oracle", name, "reference.json")),
    );
    const other: CheckpointLayout = FIXTURE_LAYOUT[name] === "hf" ? "openclip" : "hf";
    return [{ name, layout: FIXTURE_LAYOUT[name], reference }, { name, layout: other, reference }];
  });
}

/**
 * A temporary copy of an oracle model in `layout` (converted when that is not the fixture's own)
 * with the vocabulary beside it; removed on dispose.
 */
export async function modelDirWithVocab(
  name: string,
  layout: CheckpointLayout = FIXTURE_LAYOUT[name],
): Promise<{ dir: string; cacheDir: string; root: string } & AsyncDisposable> {
  const root = await mkdtemp(join(tmpdir(), `adp-${name}-`));
  const dir = join(root, "model");
  await Deno.mkdir(dir);
  const source = sharedPath("fixtures/clip-oracle", name);
  if (layout === FIXTURE_LAYOUT[name]) {
    for (const file of await readdir(source)) {
      if (!file.startsWith("reference")) await copyFile(join(source, file), join(dir, file));
    }
  } else {
    using original = await openCheckpoint(source);
    await writeCheckpoint(dir, {
      config: original.config,
      layout,
      dtype: "F32",
      canonical: async (t) => (await original.readCanonicalTensor(t.key)).data,
    });
  }
  await copyFile(
    sharedPath("fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    join(dir, "bpe_simple_vocab_16e6.txt.gz"),
  );
  return {
    dir,
    root,
    cacheDir: join(root, "cache"),
    [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }),
  };
}
