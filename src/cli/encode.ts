/**
 * `adp encode`: CLIP zero-shot similarity of images and prompts, the quickest end-to-end check that a
 * checkpoint, its tokenizer and the execution provider work together.
 *
 * @module
 */
import { basename } from "node:path";
import { preprocessImage } from "../clip/mod.ts";
import { loadClip, type Precision, PRECISIONS } from "../model/mod.ts";
import { type Device, DEVICES } from "../onnx/mod.ts";
import { choiceFlag, type Command, requireString, UsageError } from "./_command.ts";

/** `adp encode` */
export const encode: Command = {
  name: "encode",
  summary: "score images against text prompts with CLIP (zero-shot)",
  usage: `
adp encode --model DIR --image FILE [--image FILE …] --text PROMPT [--text PROMPT …] [--device auto|cpu|cuda|webgpu]
           [--precision fp32|int8|fp16]

Prints, per image, the softmax over the prompts of CLIP's logits, and the time each stage took.`,
  flags: {
    model: { type: "string" },
    image: { type: "string", multiple: true },
    text: { type: "string", multiple: true },
    device: { type: "string" },
    precision: { type: "string" },
  },
  async run(args) {
    const dir = requireString(args, "model", this.name);
    const images = (args.values.image as string[] | undefined) ?? [];
    const texts = (args.values.text as string[] | undefined) ?? [];
    if (!images.length || !texts.length) throw new UsageError("Give at least one --image and one --text");
    const device = choiceFlag<Device>(args, "device", DEVICES, "auto");

    let t = performance.now();
    const precision = args.values.precision === undefined
      ? undefined
      : choiceFlag<Precision>(args, "precision", PRECISIONS, "fp32");
    const clip = await loadClip(dir, { device, precision });
    const loadMs = performance.now() - t;
    try {
      const size = clip.config.vision.imageSize;
      t = performance.now();
      const pixels = new Float32Array(images.length * 3 * size * size);
      for (const [i, file] of images.entries()) {
        const opts = {
          size,
          mode: "crop" as const,
          mean: clip.config.preprocess.mean,
          std: clip.config.preprocess.std,
        };
        pixels.set(await preprocessImage(await Deno.readFile(file), opts), i * 3 * size * size);
      }
      const prepMs = performance.now() - t;
      t = performance.now();
      const imageFeatures = await clip.encodeImage(pixels, images.length);
      const visionMs = performance.now() - t;
      t = performance.now();
      const textFeatures = await clip.encodeText(texts);
      const textMs = performance.now() - t;
      const logits = clip.logitsPerImage(imageFeatures, textFeatures);

      for (const [i, file] of images.entries()) {
        const row = logits.subarray(i * texts.length, (i + 1) * texts.length);
        const max = Math.max(...row);
        const exps = Array.from(row, (l) => Math.exp(l - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        console.log(basename(file));
        texts.forEach((text, j) =>
          console.log(`  ${(exps[j] / sum * 100).toFixed(1).padStart(5)}%  ${text}`)
        );
      }
      console.log(
        `load ${loadMs.toFixed(0)} ms · preprocess ${prepMs.toFixed(0)} ms · vision ${
          visionMs.toFixed(0)
        } ms · text ${textMs.toFixed(0)} ms on ${clip.provider}`,
      );
    } finally {
      await clip.dispose();
    }
  },
};
