/**
 * `adp models …`: make, inspect, list and download CLIP checkpoints.
 *
 * @module
 */
import { basename, join } from "node:path";
import { copyFile, stat } from "node:fs/promises";
import {
  type CheckpointLayout,
  listArchitectures,
  listPretrained,
  loadTokenizer,
  openCheckpoint,
  pullModel,
  type PullOptions,
  type PullProgress,
  writeRandomCheckpoint,
} from "../clip/mod.ts";
import {
  findPretrainedDiffusion,
  listPretrainedDiffusion,
  pullStableDiffusion,
  writeTinyStableDiffusion,
} from "../diffusion/mod.ts";
import { renderProgressBar } from "../progress_bar.ts";
import { choiceFlag, type Command, intFlag, requireString, UsageError } from "./_command.ts";

const LAYOUTS: readonly CheckpointLayout[] = ["openclip", "hf"];
const SD_PRECISIONS = ["fp32", "fp16"] as const;
const DTYPES = ["f16", "f32", "bf16"] as const;
/** The `--arch` that writes a tiny random Stable Diffusion folder instead of a CLIP checkpoint. */
const SD_TINY = "sd-tiny";

/** `adp models tiny` */
export const modelsTiny: Command = {
  name: "models tiny",
  summary: "write a randomly initialised checkpoint of any supported architecture",
  usage: `
adp models tiny --out DIR [--arch NAME] [--layout openclip|hf] [--dtype f16|f32|bf16] [--seed N] [--vocab FILE]

Writes a randomly initialised CLIP checkpoint, for tests, demos and benchmarks; with --arch ${SD_TINY},
a tiny random Stable Diffusion folder (UNet, VAE, a tiny CLIP text tower and a small vocabulary, in
the layout \`adp models pull\` writes for SD 2.1; only --seed applies).
  --arch     ${listArchitectures().join(", ")}, ${SD_TINY} (default tiny)
  --layout   openclip (open_clip_config.json + open_clip_model.safetensors) or hf (config.json + model.safetensors); default openclip
  --dtype    storage type of the weights (default f16)
  --seed     PRNG seed (default 0)
  --vocab    a tokenizer vocabulary (bpe_simple_vocab_16e6.txt.gz, or a folder with vocab.json + merges.txt) to copy beside it`,
  flags: {
    out: { type: "string" },
    arch: { type: "string" },
    layout: { type: "string" },
    dtype: { type: "string" },
    seed: { type: "string" },
    vocab: { type: "string" },
  },
  async run(args) {
    const out = requireString(args, "out", this.name);
    const arch = (args.values.arch as string | undefined) ?? "tiny";
    const seed = intFlag(args, "seed", 0, [0, 2 ** 31 - 1]);
    const started = performance.now();
    if (arch === SD_TINY) {
      const tiny = await writeTinyStableDiffusion(out, { seed });
      console.log(
        `wrote ${SD_TINY} (seed ${seed}) to ${out}: ${tiny.files.length} files in ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s`,
      );
      return;
    }
    if (!listArchitectures().includes(arch as never)) {
      throw new UsageError(
        `Unknown --arch ${arch}: choose one of ${listArchitectures().join(", ")}, ${SD_TINY}`,
      );
    }
    const layout = choiceFlag(args, "layout", LAYOUTS, "openclip");
    const dtype = choiceFlag(args, "dtype", DTYPES, "f16");
    const written = await writeRandomCheckpoint(out, {
      arch: arch as never,
      layout,
      dtype: dtype.toUpperCase() as "F16" | "F32" | "BF16",
      seed,
    });
    const vocab = args.values.vocab as string | undefined;
    if (vocab) await copyVocab(vocab, out);
    const size = (await stat(written.weightsFile)).size;
    console.log(
      `wrote ${arch} (${layout}, ${dtype}, seed ${seed}) to ${out}: ${(size / 2 ** 20).toFixed(1)} MiB in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s${vocab ? "" : "; no tokenizer copied (pass --vocab, or pull one)"}`,
    );
  },
};

async function copyVocab(source: string, dir: string): Promise<void> {
  await loadTokenizer(source); // refuse a broken vocabulary before copying it
  const info = await stat(source);
  const files = info.isDirectory()
    ? ["bpe_simple_vocab_16e6.txt.gz", "vocab.json", "merges.txt"].map((f) => join(source, f))
    : [source];
  for (const file of files) {
    if (await stat(file).then(() => true, () => false)) await copyFile(file, join(dir, basename(file)));
  }
}

/** `adp models inspect` */
export const modelsInspect: Command = {
  name: "models inspect",
  summary: "print a checkpoint's architecture",
  usage: `
adp models inspect DIR

Prints the layout, architecture, parameter count and weights hash of a checkpoint folder.`,
  flags: {},
  positionals: true,
  async run(args) {
    const [dir] = args.positionals;
    if (!dir || args.positionals.length > 1) throw new UsageError("Give exactly one checkpoint folder");
    using ckpt = await openCheckpoint(dir);
    const { config } = ckpt;
    const params = (w: number, layers: number, mlp: number) =>
      layers * (4 * w * w + 2 * w * mlp + 9 * w + mlp);
    const v = config.vision, t = config.text;
    const total = params(v.width, v.layers, v.mlpWidth) + params(t.width, t.layers, t.mlpWidth) +
      v.width * 3 * v.patchSize ** 2 + ((v.imageSize / v.patchSize) ** 2 + 1) * v.width +
      v.width * config.embedDim +
      t.vocabSize * t.width + t.contextLength * t.width + t.width * config.embedDim;
    const lines = [
      `folder        ${dir}`,
      `layout        ${ckpt.layout} (${basename(ckpt.weightsFile)}${
        ckpt.configFile ? ` + ${basename(ckpt.configFile)}` : ", config inferred from shapes"
      })`,
      `activation    ${config.activation}`,
      `embed dim     ${config.embedDim}`,
      `vision        ${v.imageSize}px, patch ${v.patchSize}, width ${v.width}, ${v.layers} layers, ${v.heads} heads, mlp ${v.mlpWidth}`,
      `text          context ${t.contextLength}, vocab ${t.vocabSize}, width ${t.width}, ${t.layers} layers, ${t.heads} heads, mlp ${t.mlpWidth}`,
      `parameters    ${(total / 1e6).toFixed(1)} M`,
      `preprocess    mean [${config.preprocess.mean.join(", ")}], std [${config.preprocess.std.join(", ")}]`,
      `sha256        ${await ckpt.hash()}`,
      ...ckpt.warnings.map((w) => `warning       ${w}`),
    ];
    console.log(lines.join("\n"));
  },
};

/** `adp models list` */
export const modelsList: Command = {
  name: "models list",
  summary: "list pullable checkpoints and generatable architectures",
  usage: `
adp models list

Lists the checkpoints \`adp models pull\` knows by name and the architectures \`adp models tiny\` makes.`,
  flags: {},
  run() {
    console.log("pullable (adp models pull NAME):");
    for (const m of listPretrained()) {
      console.log(`  ${m.name.padEnd(34)} ${m.repo.padEnd(44)} ${m.description}`);
    }
    for (const m of listPretrainedDiffusion()) {
      console.log(`  ${m.name.padEnd(34)} ${m.onnx.repo.padEnd(44)} ${m.description}`);
    }
    console.log("\narchitectures (adp models tiny --arch NAME):");
    console.log(`  ${listArchitectures().join(", ")}`);
    return Promise.resolve();
  },
};

/** `adp models pull` */
export const modelsPull: Command = {
  name: "models pull",
  summary: "download a checkpoint and its tokenizer from the Hugging Face hub",
  usage: `
adp models pull NAME|OWNER/REPO [--out DIR] [--revision REV] [--endpoint URL] [--files a,b]
adp models pull sd-2.1 [--out DIR] [--endpoint URL] [--precision fp16|fp32] [--onnx-repo OWNER/REPO]

Downloads a checkpoint (safetensors only), its config and tokenizer, resumably, verifying each
file's checksum. NAME is one of \`adp models list\`; any hub repository id works too.
A Stable Diffusion name fetches the ONNX exports of its UNet and VAE with their scheduler and
tokenizer, and the diffusers text encoder (safetensors), into one folder for \`adp synth --sd\`.
  --out        target folder (default models/<name>)
  --revision   branch, tag or commit (default the registry's)
  --endpoint   hub URL or mirror (default $HF_ENDPOINT or https://huggingface.co)
  --files      comma-separated paths inside the repository (default the registry's files)
  --precision  Stable Diffusion: fp16 takes the text encoder's float16 file (default fp32)
  --onnx-repo  Stable Diffusion: another repository with an Optimum export (e.g. an fp16 one)
Gated repositories need HF_TOKEN in the environment.`,
  flags: {
    out: { type: "string" },
    revision: { type: "string" },
    endpoint: { type: "string" },
    files: { type: "string" },
    precision: { type: "string" },
    "onnx-repo": { type: "string" },
  },
  positionals: true,
  async run(args) {
    const [name] = args.positionals;
    if (!name || args.positionals.length > 1) {
      throw new UsageError("Give exactly one model name or repository id");
    }
    const out = (args.values.out as string | undefined) ?? join("models", name.replace(/[/:]/g, "--"));
    const isTty = Deno.stderr.isTerminal();
    const onProgress = (p: PullProgress) => {
      if (!isTty) return;
      const line = renderProgressBar({
        label: p.file,
        received: p.received,
        total: p.total,
        bytesPerSecond: p.bytesPerSecond,
      });
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
    };
    const endpoint = args.values.endpoint as string | undefined;
    const diffusion = findPretrainedDiffusion(name);
    const sources = diffusion
      ? (await pullStableDiffusion(diffusion, out, {
        endpoint,
        onProgress,
        precision: choiceFlag(args, "precision", SD_PRECISIONS, "fp32"),
        onnxRepo: args.values["onnx-repo"] as string | undefined,
      })).sources
      : [
        await pullClip(name, out, {
          revision: args.values.revision as string | undefined,
          endpoint,
          onProgress,
          files: (args.values.files as string | undefined)?.split(",").map((f) => f.trim()).filter(Boolean),
        }),
      ];
    if (isTty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    for (const source of sources) {
      for (const f of source.files) {
        console.log(
          `${f.skipped ? "present " : "fetched "} ${f.file} (${f.size} bytes, ${f.checksum.kind} ${
            f.checksum.hex.slice(0, 12)
          }…)`,
        );
      }
      console.log(`${source.repo}@${source.commit ?? "?"} is in ${out}`);
    }
  },
};

/** A CLIP pull, reported like one source of a Stable Diffusion pull (the revision when no commit was told). */
async function pullClip(name: string, out: string, opts: PullOptions) {
  const result = await pullModel(name, out, opts);
  return { repo: result.repo, commit: result.commit ?? result.revision, files: result.files };
}
