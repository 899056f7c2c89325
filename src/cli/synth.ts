/**
 * `adp synth`: writes the pseudo-anomalies enrollment would make from some normal images, with
 * their masks and a contact sheet, so a person can see what the anomaly-aware concept learns from.
 *
 * @module
 */
import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { Image } from "imagescript";
import { decodeImage, type Rgb8Image } from "../image/mod.ts";
import {
  batchOf,
  type BatchSynthesizer,
  contactSheet,
  createProceduralSynthesizer,
  createSdSynthesizer,
  DEFAULT_SYNTH_CROP,
  DEFECT_KINDS,
  type DefectKind,
  makePseudoAnomalies,
  openStableDiffusionOrFallBack,
  type PseudoAnomaly,
  SD_DEFAULTS,
  type SynthCropOptions,
} from "../adp/synth/mod.ts";
import { CONCEPT_INIT_WORD, CONCEPT_PLACEHOLDER } from "../adp/text/mod.ts";
import { loadProfile } from "../adp/mod.ts";
import {
  choiceFlag,
  type Command,
  intFlag,
  numberFlag,
  type ParsedArgs,
  requireString,
  UsageError,
} from "./_command.ts";

const PLACEMENTS = ["object", "anywhere"] as const;

/** `adp synth` */
export const synth: Command = {
  name: "synth",
  summary: "write pseudo-anomalies made from normal images, with masks and a contact sheet",
  usage: `
adp synth --in IMG [--in IMG …] --out DIR [--count N] [--seed S] [--kinds ${DEFECT_KINDS.join(",")}]
          [--size 224] [--placement object|anywhere]
adp synth --sd DIR --in IMG … --out DIR [--count N] [--seed S] [--strength ${SD_DEFAULTS.strength}] [--steps ${SD_DEFAULTS.steps}]
          [--guidance ${SD_DEFAULTS.guidance}] [--sd-size ${SD_DEFAULTS.size}] [--profile FILE | --word WORD] [--size 0]

Synthesizes pseudo-anomalies from the normal images, the way enrollment does, and writes to DIR:
  <i>-<kind>.png               the pseudo-anomaly (DIR holds these alone)
  review/<i>-<kind>-mask.png   its mask (white where altered)
  review/sheet.png             the originals, then each anomaly as is and with its mask outlined in red
  --count      how many (default 16); anomaly i comes from image i mod the number of images
  --seed       PRNG seed (default 0): the same seed and images give the same files
  --kinds      comma-separated defect kinds to draw from (default all: ${DEFECT_KINDS.join(", ")})
  --size       side of the random resized crop (default ${DEFAULT_SYNTH_CROP.size}); 0 keeps full-size images, uncropped
  --placement  object (default: keep defects on the part when it stands on a uniform backdrop) or anywhere
With --sd, Stable Diffusion edits the images (SDEdit, "a photo of a damaged <part>"), kept on the part:
  --sd         the model folder (adp models pull, or adp models tiny --arch sd-tiny); missing or
               broken: one line says so and the procedural synthesizer stands in
  --strength   how far into the noise the edit starts, (0, 1] (default ${SD_DEFAULTS.strength})
  --steps      DDIM steps of the whole schedule; strength × steps of them run (default ${SD_DEFAULTS.steps})
  --guidance   classifier-free guidance scale (default ${SD_DEFAULTS.guidance})
  --sd-size    longer side the images are edited at, a multiple of 8 (default ${SD_DEFAULTS.size})
  --profile    a station profile: its anomaly-aware concept is the <part> (when its width fits)
  --word       the <part> as a word (default: the profile's label, else "${CONCEPT_INIT_WORD}")
  --size       defaults to 0 with --sd: pseudo-anomalies of each image's own size`,
  flags: {
    in: { type: "string", multiple: true },
    out: { type: "string" },
    count: { type: "string" },
    seed: { type: "string" },
    kinds: { type: "string" },
    size: { type: "string" },
    placement: { type: "string" },
    sd: { type: "string" },
    strength: { type: "string" },
    steps: { type: "string" },
    guidance: { type: "string" },
    "sd-size": { type: "string" },
    profile: { type: "string" },
    word: { type: "string" },
  },
  async run(args) {
    const inputs = (args.values.in as string[] | undefined) ?? [];
    if (!inputs.length) throw new UsageError("Give at least one --in image (see adp synth --help)");
    const out = requireString(args, "out", this.name);
    const count = intFlag(args, "count", 16, [1, 100_000]);
    const seed = intFlag(args, "seed", 0, [0, 2 ** 32 - 1]);
    const sdDir = args.values.sd as string | undefined;
    const size = intFlag(args, "size", sdDir === undefined ? DEFAULT_SYNTH_CROP.size : 0, [0, 4096]);
    const placement = choiceFlag(args, "placement", PLACEMENTS, "object");
    const kinds = parseKinds(args.values.kinds as string | undefined);

    const normals: Rgb8Image[] = [];
    for (const file of inputs) normals.push(await decodeImage(await Deno.readFile(file)));
    const crop: SynthCropOptions | false = size === 0 ? false : { ...DEFAULT_SYNTH_CROP, size };
    const procedural = createProceduralSynthesizer({ kinds, placement });
    const started = performance.now();
    const anomalies = sdDir === undefined
      ? await makePseudoAnomalies(normals, { count, seed, crop, synthesizer: batchOf(procedural) })
      : await sdPseudoAnomalies(args, sdDir, normals, { count, seed, crop, fallback: batchOf(procedural) });
    const synthMs = performance.now() - started;

    // DIR holds the pseudo-anomalies alone, so a folder of them is what a later step reads.
    const review = join(out, "review");
    await mkdir(review, { recursive: true });
    const digits = String(count - 1).length;
    for (const [i, a] of anomalies.entries()) {
      const name = `${String(i).padStart(digits, "0")}-${a.kind}`;
      await Deno.writeFile(join(out, `${name}.png`), await encodePng(a.image));
      await Deno.writeFile(join(review, `${name}-mask.png`), await encodePng(maskImage(a.mask, a.image)));
    }
    await Deno.writeFile(join(review, "sheet.png"), await encodePng(contactSheet(normals, anomalies)));

    const byKind = new Map<string, number>();
    for (const a of anomalies) byKind.set(a.kind, (byKind.get(a.kind) ?? 0) + 1);
    console.log(
      `wrote ${count} pseudo-anomalies (${
        [...byKind].map(([k, n]) => `${n} ${k}`).join(", ")
      }) to ${out}, masks and sheet.png to ${review}; synthesis took ${synthMs.toFixed(0)} ms`,
    );
  },
};

/** `--sd`: SDEdit pseudo-anomalies, or the procedural ones when the model cannot be opened. */
async function sdPseudoAnomalies(
  args: ParsedArgs,
  dir: string,
  normals: Rgb8Image[],
  opts: { count: number; seed: number; crop: SynthCropOptions | false; fallback: BatchSynthesizer },
): Promise<PseudoAnomaly[]> {
  const strength = numberFlag(args, "strength", SD_DEFAULTS.strength, [0.01, 1]);
  const steps = intFlag(args, "steps", SD_DEFAULTS.steps, [1, 1000]);
  const guidance = numberFlag(args, "guidance", SD_DEFAULTS.guidance, [0, 50]);
  const sdSize = intFlag(args, "sd-size", SD_DEFAULTS.size, [8, 2048]);
  if (Math.floor(strength * steps) < 1) {
    throw new UsageError(`--strength ${strength} of --steps ${steps} runs no step: raise either`);
  }
  const profilePath = args.values.profile as string | undefined;
  const profile = profilePath === undefined ? undefined : await loadProfile(profilePath);
  const word = (args.values.word as string | undefined) ?? profile?.meta.label ?? CONCEPT_INIT_WORD;
  const log = (line: string) => console.error(line);
  const model = await openStableDiffusionOrFallBack(dir, { log });
  if (!model) return await makePseudoAnomalies(normals, { ...opts, synthesizer: opts.fallback });
  try {
    const synthesizer = createSdSynthesizer({
      model,
      word,
      concept: profile && { placeholder: CONCEPT_PLACEHOLDER, vector: profile.concepts.anomaly },
      strength,
      steps,
      guidance,
      size: sdSize,
      log,
    });
    return await makePseudoAnomalies(normals, { ...opts, synthesizer });
  } finally {
    await model.release();
  }
}

function parseKinds(value: string | undefined): DefectKind[] | undefined {
  if (value === undefined) return undefined;
  const kinds = value.split(",").map((k) => k.trim()).filter(Boolean);
  for (const k of kinds) {
    if (!(DEFECT_KINDS as readonly string[]).includes(k)) {
      throw new UsageError(`--kinds has an unknown kind ${k}: choose from ${DEFECT_KINDS.join(", ")}`);
    }
  }
  if (!kinds.length) throw new UsageError("--kinds is empty: name at least one kind");
  return kinds as DefectKind[];
}

function maskImage(mask: Uint8Array, like: Rgb8Image): Rgb8Image {
  const data = new Uint8Array(mask.length * 3);
  for (let i = 0; i < mask.length; i++) data.fill(mask[i], i * 3, i * 3 + 3);
  return { width: like.width, height: like.height, data };
}

async function encodePng(image: Rgb8Image): Promise<Uint8Array> {
  const out = new Image(image.width, image.height);
  const rgba = out.bitmap;
  const { data } = image;
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    rgba[j] = data[i];
    rgba[j + 1] = data[i + 1];
    rgba[j + 2] = data[i + 2];
    rgba[j + 3] = 255;
  }
  return await out.encode();
}
