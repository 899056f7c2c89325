/**
 * `adp eval`: the paper's tables on MVTec-AD or VisA layouts — the K-shot protocol per category and
 * seed, every variant and ablation, mean ± std, written as JSON, Markdown and plots, resumable.
 *
 * @module
 */
import { type Precision, PRECISIONS } from "../model/mod.ts";
import { type Device, DEVICES } from "../onnx/mod.ts";
import { renderProgressBar } from "../progress_bar.ts";
import {
  ABLATION_VARIANTS,
  DRAWS,
  type EvalEvent,
  type EvalSettings,
  type PixelSize,
  runEvaluation,
  type Variant,
  VARIANT_INFO,
  VARIANTS,
} from "../eval/mod.ts";
import { choiceFlag, type Command, intFlag, type ParsedArgs, requireString, UsageError } from "./_command.ts";

/** `adp eval` */
export const evalCommand: Command = {
  name: "eval",
  summary: "measure detection quality: the K-shot protocol over categories and seeds, tables and plots",
  usage: `
adp eval --data DIR --categories a,b [--shots 2,4,8,16] [--seeds 0,1,2] [--model DIR] [--backbone FILE]
         [--variant fused,text,patch,plain-patch] [--ablation] [--steps N] [--out DIR] [--json] [--resume]
         [--limit N] [--draw adp|numpy] [--pixel-size N|mask] [--label-prompts] [--threads N] [--device D]
         [--feedback N,…] [--precision fp32|int8|fp16]

For each category, K and seed: K normal images drawn from train/good, a profile enrolled from them,
every test image scored; image AUROC, pixel AUROC, AUPRO (FPR ≤ 0.3), F1-max (image and pixel), and
at the calibrated threshold the false-reject rate on good parts and the miss rate on defective ones.
Prints mean ± std over seeds per category and K and overall (the paper's Table 1 layout; Table 2 with
--ablation) and writes results.json, results.md, plots/ (ROC curves and score histograms as SVG, a
sheet of anomaly maps as PNG) and runs/ (one file per run, saved as it finishes) under --out.
  --data          dataset root: <category>/train/good… (MVTec AD) or split_csv/1cls.csv (VisA)
  --categories    comma-separated category names
  --shots         K values, 1–16 (default 2,4,8,16)
  --seeds         seeds of the draws and of enrollment (default 0,1,2)
  --model         CLIP checkpoint folder (needed unless only plain-patch is scored)
  --backbone      backbone JSON for the patch branch and the baseline (default: CLIP's patch tokens)
  --variant       comma-separated, the first is the headline and the plots' (default fused):
${VARIANTS.map((v) => `                    ${v.padEnd(18)} ${VARIANT_INFO[v].description}`).join("\n")}
  --ablation      add the rows of the paper's Table 2: ${ABLATION_VARIANTS.join(", ")}
  --steps         Adam steps per concept (default: enrollment's, 40)
  --out           output folder (default out/eval)
  --json          print one JSON document on stdout (tables go to stderr)
  --resume        reuse runs already saved under --out with the same settings
  --limit         score only N evenly spaced test images per category (both classes kept)
  --draw          adp: our seeded draw (default); numpy: numpy's RandomState(seed).choice, as the
                  proxy backbone's README baseline was measured
  --pixel-size    pixel metrics at N×N (masks resized bilinearly, ≥ 128: the README's protocol
                  uses 224) or at each mask's own size (mask, the default)
  --label-prompts add the category's name as label prompts to self-tuning (ADP_ℓ)
  --threads       onnxruntime CPU threads (default all cores)
  --device        ${DEVICES.join(", ")} (default cpu)
  --feedback      budgets N: replay the test set as a stream in a seeded shuffled order, the ground
                  truth correcting the first N mistakes (false reject → good, miss → defect) as
                  adp feedback does; false rejects and misses on the frames after, before → after
  --precision     of the CLIP vision graph; int8 also quantises an ONNX backbone's weights (default fp32)`,
  flags: {
    data: { type: "string" },
    categories: { type: "string" },
    shots: { type: "string" },
    seeds: { type: "string" },
    model: { type: "string" },
    backbone: { type: "string" },
    variant: { type: "string" },
    ablation: { type: "boolean" },
    steps: { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
    resume: { type: "boolean" },
    limit: { type: "string" },
    draw: { type: "string" },
    "pixel-size": { type: "string" },
    "label-prompts": { type: "boolean" },
    threads: { type: "string" },
    device: { type: "string" },
    feedback: { type: "string" },
    precision: { type: "string" },
  },
  async run(args) {
    const settings = parseSettings(args);
    const json = args.values.json === true;
    const terminal = Deno.stderr.isTerminal();
    const encoder = new TextEncoder();
    let shown = false;
    const clearBar = () => {
      if (shown) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      shown = false;
    };
    const onEvent = (e: EvalEvent) => {
      if (e.kind === "progress") {
        if (!terminal) return;
        // Run, bar, percentage and ETA keep their place; the stage gives way when the line is short.
        const eta = e.etaSeconds === null ? "" : `  ETA ${formatSeconds(e.etaSeconds)}`;
        const columns = Deno.consoleSize().columns - 1;
        const bar = renderProgressBar({
          label: e.label,
          fraction: e.fraction,
          width: Math.min(72, columns - 30),
        });
        const line = `${bar}${eta}  ${e.stage}`;
        Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line.slice(0, Math.max(40, columns))}`));
        shown = true;
        return;
      }
      clearBar();
      if (e.kind === "note") {
        console.error(e.message);
        return;
      }
      const primary = e.record.variants[settings.variants[0]]!.metrics;
      const pixel = primary.pixelAuroc === null ? "" : `, pixel AUROC ${primary.pixelAuroc.toFixed(3)}`;
      const eta = e.etaSeconds === null || e.done === e.total ? "" : `, ETA ${formatSeconds(e.etaSeconds)}`;
      console.error(
        `[${e.done}/${e.total}] ${e.category} K=${e.k} seed ${e.seed}: image AUROC ${
          primary.imageAuroc.toFixed(3)
        }${pixel}` +
          (e.resumed ? " (resumed)" : ` in ${(e.record.durationMs / 1000).toFixed(1)} s${eta}`),
      );
    };
    const result = await runEvaluation(settings, {
      out: (args.values.out as string | undefined) ?? "out/eval",
      resume: args.values.resume === true,
      threads: args.values.threads === undefined ? undefined : intFlag(args, "threads", 1, [1, 256]),
      device: choiceFlag(args, "device", DEVICES, "cpu" as Device),
      onEvent,
    });
    clearBar();
    const { files, runs } = result.document;
    const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    const where =
      `${
        plural(runs.executed, "run")
      } measured, ${runs.resumed} resumed in ${result.document.durationSeconds} s; ` +
      `wrote ${files.json}, ${files.markdown}, ${files.plots.length} plots`;
    if (json) {
      console.error(result.text);
      console.error(where);
      console.log(JSON.stringify(result.document));
    } else {
      console.log(result.text);
      console.log(where);
    }
  },
};

function parseSettings(args: ParsedArgs): EvalSettings {
  const name = "eval";
  const list = (flag: string, fallback: string) => {
    const v = (args.values[flag] as string | undefined) ?? fallback;
    const parts = v.split(",").map((s) => s.trim()).filter((s) => s.length);
    if (!parts.length) throw new UsageError(`--${flag} needs a comma-separated list`);
    return parts;
  };
  const ints = (flag: string, fallback: string) =>
    list(flag, fallback).map((s) => {
      const n = Number(s);
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) {
        throw new UsageError(`--${flag} takes integers: got ${s}`);
      }
      return n;
    });
  const variants = list("variant", "fused") as Variant[];
  for (const v of variants) {
    if (!VARIANTS.includes(v)) {
      throw new UsageError(`--variant ${v} is unknown: choose from ${VARIANTS.join(", ")}`);
    }
  }
  if (args.values.ablation) {
    for (const v of ABLATION_VARIANTS) {
      if (!variants.includes(v)) variants.push(v);
    }
  }
  const pixelFlag = (args.values["pixel-size"] as string | undefined) ?? "mask";
  let pixelSize: PixelSize = "mask";
  if (pixelFlag !== "mask") {
    pixelSize = Number(pixelFlag);
    if (!Number.isInteger(pixelSize) || pixelSize < 8 || pixelSize > 4096) {
      throw new UsageError(`--pixel-size must be mask or an integer from 8 to 4096: got ${pixelFlag}`);
    }
  }
  const settings: EvalSettings = {
    data: requireString(args, "data", name),
    categories: list("categories", requireString(args, "categories", name)),
    shots: ints("shots", "2,4,8,16"),
    seeds: ints("seeds", "0,1,2"),
    variants,
    labelPrompts: args.values["label-prompts"] === true,
    draw: choiceFlag(args, "draw", DRAWS, "adp"),
    pixelSize,
  };
  if (args.values.model !== undefined) settings.model = requireString(args, "model", name);
  if (args.values.backbone !== undefined) settings.backbone = requireString(args, "backbone", name);
  if (args.values.precision !== undefined) {
    settings.precision = choiceFlag<Precision>(args, "precision", PRECISIONS, "fp32");
  }
  if (args.values.steps !== undefined) settings.steps = intFlag(args, "steps", 40, [1, 10_000]);
  if (args.values.limit !== undefined) settings.limit = intFlag(args, "limit", 2, [2, 1_000_000]);
  if (args.values.feedback !== undefined) {
    settings.feedback = ints("feedback", "");
    if (settings.feedback.some((n) => n < 1)) throw new UsageError("--feedback takes budgets of 1 or more");
    if (!variants.includes("fused")) throw new UsageError("--feedback needs the fused variant");
  }
  return settings;
}

function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
    : `${m}:${String(s % 60).padStart(2, "0")}`;
}
