/**
 * Backbone descriptions: the JSON file that says how to run an ONNX network as a patch backbone —
 * the file, input name and size, how frames are resized, `(pixel·scale − mean)/std`, which outputs
 * to use (`models/proxy/backbone.json` is the reference). A description is outside data: it becomes
 * a typed {@linkcode BackboneConfig} in {@linkcode parseBackboneConfig} only, every field checked
 * through the one {@linkcode Guard}.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ConfigError } from "../../errors.ts";
import { type Fields, Guard } from "../../guard.ts";
import type { BackboneInterpolation, BackboneResize } from "./frame_resize.ts";

/** A backbone description, validated. */
export interface BackboneConfig {
  /** The backbone's name, for messages and logs. */
  name: string;
  /** Absolute path of the ONNX file. */
  onnx: string;
  /** The image input's name. */
  input: string;
  /** Side of the square input the network was exported for. */
  size: number;
  /** How frames become the square input. */
  resize: BackboneResize;
  /** The resampling filter. @default {"bilinear"} */
  interpolation: BackboneInterpolation;
  /** Pixel values are `(pixel·scale − mean)/std` per channel. */
  scale: number;
  /** Per-channel mean subtracted after scaling. */
  mean: [number, number, number];
  /** Per-channel divisor, positive. */
  std: [number, number, number];
  /** Feature-map outputs the patch branch uses, [N,C,H,W]. */
  outputs: string[];
  /** The outputs' layout: batch, channels, height, width. */
  layout: "NCHW";
}

const BACKBONE_FIELDS = [
  "name",
  "onnx",
  "input",
  "size",
  "resize",
  "interpolation",
  "scale",
  "mean",
  "std",
  "outputs",
  "layout",
] as const;

/** The guard of a description: its refusals are ConfigErrors naming the file. */
function backboneGuard(source: string | undefined): Guard {
  const what = source ? `Backbone description ${source}` : "Backbone description";
  return new Guard((message, options) => new ConfigError(`${what} is invalid: ${message}`, options));
}

/**
 * Turns a parsed backbone JSON into a typed config, checking every field.
 *
 * @param json the parsed JSON
 * @param opts `baseDir`: the folder `onnx` is relative to; `source`: the file, for messages
 * @returns the validated config
 * @throws {ConfigError} naming the field (and the file) when a field is missing or invalid
 *
 * @example The proxy's description
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const config = parseBackboneConfig({
 *   name: "proxy", onnx: "model.onnx", input: "pixel_values", size: 224, resize: "whole",
 *   scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], outputs: ["features_14"], layout: "NCHW",
 * }, { baseDir: "/models/proxy" });
 * strictEqual(config.onnx, "/models/proxy/model.onnx");
 * strictEqual(config.interpolation, "bilinear");
 * ```
 */
export function parseBackboneConfig(
  json: unknown,
  opts: { baseDir: string; source?: string },
): BackboneConfig {
  const guard: Guard = backboneGuard(opts.source);
  const o = guard.object(json, "backbone");
  guard.only(o, BACKBONE_FIELDS, "backbone");
  const scale = o.scale;
  if (typeof scale !== "number" || !(scale > 0) || !Number.isFinite(scale)) {
    guard.reject("scale", "a positive finite number", scale);
  }
  const onnx = guard.string(o.onnx, "onnx");
  return {
    name: guard.string(o.name, "name"),
    onnx: isAbsolute(onnx) ? onnx : join(opts.baseDir, onnx),
    input: guard.string(o.input, "input"),
    size: guard.integer(o.size, "size", { min: 1 }),
    resize: guard.oneOf(o.resize, "resize", ["whole", "crop"] as const),
    interpolation: guard.oneOf(
      o.interpolation ?? "bilinear",
      "interpolation",
      ["bilinear", "bicubic"] as const,
    ),
    scale,
    mean: triple(guard, o, "mean", false),
    std: triple(guard, o, "std", true),
    outputs: outputNames(guard, o.outputs),
    layout: guard.oneOf(o.layout, "layout", ["NCHW"] as const),
  };
}

/** Three finite numbers (per channel), each positive when `positive`. */
function triple(guard: Guard, o: Fields, field: string, positive: boolean): [number, number, number] {
  const v = guard.numbers(o[field], field, 3);
  v.forEach((x, i) => {
    if (positive && x <= 0) guard.reject(`${field}[${i}]`, "a positive number", x);
  });
  return v as [number, number, number];
}

/** A non-empty list of distinct, non-empty output names. */
function outputNames(guard: Guard, v: unknown): string[] {
  const outputs = guard.strings(v, "outputs");
  if (outputs.length === 0) guard.reject("outputs", "a non-empty list of output names", outputs);
  outputs.forEach((name, i) => {
    if (outputs.indexOf(name) !== i) guard.reject(`outputs[${i}]`, "a layer not named before", name);
  });
  return outputs;
}

/**
 * Reads and validates a backbone JSON file; `onnx` is resolved against the file's folder and must
 * lie inside it (a description is data, and may come with a profile from another instance: it does
 * not get to name any file on the machine).
 *
 * @param path the JSON file
 * @returns the validated config
 * @throws {ConfigError} when the file cannot be read, is not JSON, a field is invalid, or `onnx`
 *   points outside the file's folder
 */
export async function loadBackboneConfig(path: string): Promise<BackboneConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`Backbone description cannot be read: ${path}`, { cause: error });
  }
  const guard: Guard = backboneGuard(path);
  const json = guard.parseJson(text, "the file");
  const config = parseBackboneConfig(json, { baseDir: dirname(path), source: path });
  const folder = resolve(dirname(path));
  const inside = relative(folder, resolve(config.onnx));
  if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    guard.reject("onnx", `a path inside the description's folder ${folder}`, (json as Fields).onnx);
  }
  return config;
}

/**
 * The sha256 of a backbone's ONNX file, hex: a profile records it, and a backbone whose model
 * changed since enrollment is refused.
 *
 * @param config a validated description
 * @returns 64 hex digits
 */
export async function backboneSha256(config: BackboneConfig): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(config.onnx)).digest("hex");
}
