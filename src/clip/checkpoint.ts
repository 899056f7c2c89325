/**
 * Opening a CLIP checkpoint folder in either layout (OpenCLIP or Hugging Face), with or without its
 * config file, and mapping its tensors to the canonical {@linkcode ClipWeights}. Every tensor is
 * checked against the config when the folder is opened, before anything is read.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import { ConfigError, ErrorCode, ShapeError, WeightsError } from "../errors.ts";
import type { Activation, ClipConfig } from "./config.ts";
import {
  type CheckpointLayout,
  LAYOUT_NAMES,
  type LayoutTensor,
  layoutTensors,
} from "./checkpoint_layout.ts";
import { parseClipConfig, validateClipConfig } from "./config_parse.ts";
import { inferClipConfig } from "./infer_clip_config.ts";
import { openSafetensors, type SafetensorsReader } from "./safetensors.ts";
import {
  type BlockWeights,
  type ClipWeights,
  type FloatTensor,
  type LayerNormWeights,
  lazyTensor,
  type TextWeights,
} from "./weights.ts";

/** File names of each layout. */
export const CHECKPOINT_FILES: Readonly<{
  openclip: { readonly config: string; readonly weights: string };
  hf: { readonly config: string; readonly weights: string; readonly preprocessor: string };
}> = Object.freeze({
  openclip: { config: "open_clip_config.json", weights: "open_clip_model.safetensors" },
  hf: { config: "config.json", weights: "model.safetensors", preprocessor: "preprocessor_config.json" },
});

/** Name of the JSON file under a cache folder that remembers weight hashes. */
export const HASH_CACHE_FILE = "weights-sha256.json";

/** An open checkpoint folder. `close()` (or `using`) releases the weights file. */
export interface Checkpoint {
  /** The checkpoint folder. */
  readonly dir: string;
  /** How the weights name their tensors. */
  readonly layout: CheckpointLayout;
  /** The architecture, from the config file or inferred from the weights. */
  readonly config: ClipConfig;
  /** The config file used, or null when the config was inferred from tensor shapes. */
  readonly configFile: string | null;
  /** The safetensors weights file. */
  readonly weightsFile: string;
  /** Guesses and disagreements between config and weights, one sentence each. */
  readonly warnings: readonly string[];
  /**
   * The weights file's sha256 (hex). With `cacheDir`, remembered across processes keyed by path,
   * size and modification time, so a restart does not rehash gigabytes.
   */
  hash(cacheDir?: string): Promise<string>;
  /**
   * Every tensor, converted to float32 in canonical orientation. The tensors are lazy: each read of
   * `data` reads the file again (while the checkpoint is open), so keep what you use.
   */
  readWeights(): Promise<ClipWeights>;
  /** Rows of the token embedding ([ids.length · width], in the order given), read alone. */
  readTokenEmbeddingRows(ids: readonly number[]): Promise<Float32Array>;
  /** The stored log of the logit scale, read alone. */
  readLogitScale(): Promise<number>;
  /** One canonical tensor by its layout-independent key (as in {@linkcode layoutTensors}). */
  readCanonicalTensor(key: string): Promise<FloatTensor>;
  /** Closes the weights file. */
  close(): void;
  /** Closes the weights file (for `using`). */
  [Symbol.dispose](): void;
}

/** Options of {@linkcode openCheckpoint}. */
export interface OpenCheckpointOptions {
  /**
   * Overrides the activation (like OpenCLIP's `force_quick_gelu`); needed for a weights-only
   * folder of a GELU model. A disagreement with the config file is warned about.
   */
  activation?: Activation;
}

/**
 * Opens a checkpoint folder. Layouts recognised: OpenCLIP (`open_clip_config.json` +
 * `open_clip_model.safetensors`), Hugging Face (`config.json` + `model.safetensors`, plus
 * `preprocessor_config.json` for mean/std when present), or a weights file alone, whose config is
 * then inferred from tensor shapes with warnings for what had to be guessed. The tensor naming is
 * detected from the weights themselves. Every tensor the config needs is checked for presence,
 * dtype and shape before this returns.
 *
 * @param dir the folder
 * @param opts `activation` override
 * @throws {WeightsError} `WEIGHTS_MISSING` for a missing file or tensor; otherwise for a corrupt
 *   file or a shape that disagrees with the config, naming file, tensor and both shapes
 * @throws {ConfigError} for a malformed config file
 *
 * @example Reading a random tiny checkpoint
 * ```ts
 * import { openCheckpoint } from "./checkpoint.ts";
 * import { writeRandomCheckpoint } from "./random_checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomCheckpoint(dir, { arch: "tiny", layout: "hf", seed: 1 });
 * using ckpt = await openCheckpoint(dir);
 * const w = await ckpt.readWeights();
 * if (ckpt.layout !== "hf" || w.vision.blocks.length !== 3) throw new Error("Unexpected checkpoint");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openCheckpoint(dir: string, opts: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const weightsFile = await findWeightsFile(dir);
  const reader = await openSafetensors(weightsFile);
  try {
    const layout = _detectLayout(reader);
    const warnings: string[] = [];
    const { config: fileConfig, configFile } = await _readConfig(dir, layout, reader, warnings, opts);
    let config = fileConfig;
    if (opts.activation && opts.activation !== config.activation) {
      if (configFile) {
        warnings.push(
          `The activation is overridden: ${configFile} says ${config.activation}, using ${opts.activation}`,
        );
      }
      config = validateClipConfig({ ...config, activation: opts.activation });
    }
    const tensors = layoutTensors(config, layout);
    checkTensors(reader, tensors, config, layout, warnings);
    return new CheckpointImpl(
      resolve(dir),
      layout,
      config,
      configFile,
      weightsFile,
      warnings,
      reader,
      tensors,
    );
  } catch (err) {
    reader.close();
    throw err;
  }
}

async function _exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The safetensors file of a checkpoint folder (either layout's name, or the only one there). */
export async function findWeightsFile(dir: string): Promise<string> {
  for (const name of [CHECKPOINT_FILES.openclip.weights, CHECKPOINT_FILES.hf.weights]) {
    const path = join(dir, name);
    if (await _exists(path)) return path;
  }
  const safetensors: string[] = [];
  const others: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      if (e.name.endsWith(".safetensors")) safetensors.push(e.name);
      else if (/\.(bin|pt|pth|ckpt)$/.test(e.name)) others.push(e.name);
    }
  } catch (err) {
    throw new WeightsError(`Cannot read checkpoint folder ${dir}: ${(err as Error).message}`, {
      file: dir,
      code: ErrorCode.WEIGHTS_MISSING,
      cause: err,
    });
  }
  if (safetensors.length === 1) return join(dir, safetensors[0]);
  if (safetensors.length > 1) {
    throw new WeightsError(
      `Ambiguous checkpoint folder ${dir}: several safetensors files (${safetensors.sort().join(", ")})`,
      { file: dir },
    );
  }
  const found = others.length > 0
    ? `; found only ${others.sort().join(", ")}, which are not safetensors`
    : "";
  throw new WeightsError(
    `No weights in checkpoint folder ${dir}: expected ${CHECKPOINT_FILES.openclip.weights} or ${CHECKPOINT_FILES.hf.weights}${found}`,
    { file: dir, code: ErrorCode.WEIGHTS_MISSING },
  );
}

function _detectLayout(reader: SafetensorsReader): CheckpointLayout {
  for (const layout of ["openclip", "hf"] as const) {
    if (reader.header.has(LAYOUT_NAMES[layout].vision.patchEmbed)) return layout;
  }
  throw new WeightsError(
    `Unrecognised CLIP weights in ${reader.path}: neither "${LAYOUT_NAMES.openclip.vision.patchEmbed}" (OpenCLIP) nor "${LAYOUT_NAMES.hf.vision.patchEmbed}" (Hugging Face) is present`,
    { file: reader.path, tensor: LAYOUT_NAMES.openclip.vision.patchEmbed, code: ErrorCode.WEIGHTS_MISSING },
  );
}

async function _readJson(path: string): Promise<unknown> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Invalid JSON in ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function _readConfig(
  dir: string,
  layout: CheckpointLayout,
  reader: SafetensorsReader,
  warnings: string[],
  opts: OpenCheckpointOptions,
): Promise<{ config: ClipConfig; configFile: string | null }> {
  const own = join(dir, CHECKPOINT_FILES[layout].config);
  const otherLayout: CheckpointLayout = layout === "openclip" ? "hf" : "openclip";
  const other = join(dir, CHECKPOINT_FILES[otherLayout].config);
  for (const [path, configLayout] of [[own, layout], [other, otherLayout]] as const) {
    if (!(await _exists(path))) continue;
    if (configLayout !== layout) {
      warnings.push(
        `The weights use ${layout} names but the only config is ${
          basename(path)
        } (${configLayout}); using it`,
      );
    }
    const preprocessorPath = join(dir, CHECKPOINT_FILES.hf.preprocessor);
    const preprocessor = configLayout === "hf" && await _exists(preprocessorPath)
      ? await _readJson(preprocessorPath)
      : undefined;
    const config = parseClipConfig(await _readJson(path), configLayout, { preprocessor, source: path });
    return { config, configFile: path };
  }
  const shapes = new Map([...reader.header].map(([name, e]) => [name, e.shape]));
  const inferred = inferClipConfig(shapes, layout, { activation: opts.activation });
  warnings.push(
    `No config file in ${dir}: the config was inferred from the tensor shapes`,
    ...inferred.warnings,
  );
  return { config: inferred.config, configFile: null };
}

/** Buffers that some exporters save and that carry nothing the model needs. */
const IGNORED_EXTRA_REGEXP = /(^|\.)(position_ids|attn_mask)$/;

/** Checks that every tensor the config needs is present with its shape and a float dtype, then warns about the rest. */
export function checkTensors(
  reader: SafetensorsReader,
  tensors: readonly LayoutTensor[],
  config: ClipConfig,
  layout: CheckpointLayout,
  warnings: string[],
): void {
  const file = reader.path;
  const expected = new Set<string>();
  const missing: string[] = [];
  for (const t of tensors) {
    for (const part of t.parts) {
      expected.add(part.name);
      const entry = reader.header.get(part.name);
      if (!entry) {
        missing.push(part.name);
        continue;
      }
      if (
        !(entry.dtype === "F32" || entry.dtype === "F16" || entry.dtype === "BF16" || entry.dtype === "F64")
      ) {
        throw new WeightsError(`Unsupported tensor dtype in ${file}: "${part.name}" is ${entry.dtype}`, {
          file,
          tensor: part.name,
        });
      }
      // OpenAI stores the scalar logit scale with shape [], some exporters with [1].
      const scalarOk = part.shape.length === 0 && entry.shape.length === 1 && entry.shape[0] === 1;
      if (!scalarOk && !_sameShape(entry.shape, part.shape)) {
        throw new WeightsError(
          `Tensor shape disagrees with the config in ${file}: "${part.name}" expected ${
            JSON.stringify(part.shape)
          }, got ${JSON.stringify(entry.shape)}`,
          { file, tensor: part.name },
        );
      }
    }
  }
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
    throw new WeightsError(`Missing tensor in ${file}: "${missing[0]}"${more}`, {
      file,
      tensor: missing[0],
      code: ErrorCode.WEIGHTS_MISSING,
    });
  }
  _warnAboutExtras(reader, expected, config, layout, warnings);
}

/** Warns about tensors the model does not use: blocks past the config's depth, and non-CLIP tensors. */
function _warnAboutExtras(
  reader: SafetensorsReader,
  expected: ReadonlySet<string>,
  config: ClipConfig,
  layout: CheckpointLayout,
  warnings: string[],
): void {
  const file = reader.path;
  const names = LAYOUT_NAMES[layout];
  const extraBlocks = { vision: new Set<number>(), text: new Set<number>() };
  const extras: string[] = [];
  for (const name of reader.header.keys()) {
    if (expected.has(name) || IGNORED_EXTRA_REGEXP.test(name)) continue;
    let block = false;
    for (const tower of ["vision", "text"] as const) {
      const prefix = `${names[tower].blocks}.`;
      const m = name.startsWith(prefix) ? /^(\d+)\./.exec(name.slice(prefix.length)) : null;
      if (m && Number(m[1]) >= config[tower].layers) {
        extraBlocks[tower].add(Number(m[1]));
        block = true;
      }
    }
    if (!block) extras.push(name);
  }
  for (const tower of ["vision", "text"] as const) {
    const n = extraBlocks[tower].size;
    if (n > 0) {
      warnings.push(
        `The weights hold ${config[tower].layers + n} ${tower} blocks but the config uses ${
          config[tower].layers
        }: the extra blocks are ignored`,
      );
    }
  }
  if (extras.length > 0) {
    const shown = extras.slice(0, 5).map((s) => `"${s}"`).join(", ");
    warnings.push(
      `${extras.length} tensor(s) in ${basename(file)} are not part of CLIP and are ignored: ${shown}${
        extras.length > 5 ? ", …" : ""
      }`,
    );
  }
}

function _sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function _transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

async function _sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(8 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

interface _HashCacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

async function _readHashCache(path: string): Promise<Record<string, _HashCacheEntry>> {
  try {
    const json = JSON.parse(await Deno.readTextFile(path));
    if (
      typeof json === "object" && json !== null && typeof json.entries === "object" && json.entries !== null
    ) {
      return json.entries;
    }
  } catch {
    // A missing or damaged cache only costs a rehash.
  }
  return {};
}

/**
 * A weights file's sha256 (hex). With `cacheDir`, remembered across processes keyed by path, size and
 * modification time, so a restart does not rehash gigabytes.
 */
export async function weightsSha256(weightsFile: string, cacheDir?: string): Promise<string> {
  const path = await Deno.realPath(weightsFile);
  if (!cacheDir) return await _sha256(path);
  const stat = await Deno.stat(path);
  const mtimeMs = stat.mtime?.getTime() ?? 0;
  const cachePath = join(cacheDir, HASH_CACHE_FILE);
  const hit = (await _readHashCache(cachePath))[path];
  if (hit && hit.size === stat.size && hit.mtimeMs === mtimeMs && /^[0-9a-f]{64}$/.test(hit.sha256)) {
    return hit.sha256;
  }
  const sha256 = await _sha256(path);
  await Deno.mkdir(cacheDir, { recursive: true });
  // Re-read just before writing so that entries other processes added meanwhile survive.
  const entries = await _readHashCache(cachePath);
  entries[path] = { size: stat.size, mtimeMs, sha256 };
  const tmp = join(cacheDir, `.${crypto.randomUUID()}.tmp`);
  await Deno.writeTextFile(tmp, JSON.stringify({ version: 1, entries }, null, 1));
  await Deno.rename(tmp, cachePath);
  return sha256;
}

class CheckpointImpl implements Checkpoint {
  readonly dir: string;
  readonly layout: CheckpointLayout;
  readonly config: ClipConfig;
  readonly configFile: string | null;
  readonly weightsFile: string;
  readonly warnings: readonly string[];
  #reader: SafetensorsReader;
  #tensors: readonly LayoutTensor[];
  #hash?: Promise<string>;

  constructor(
    dir: string,
    layout: CheckpointLayout,
    config: ClipConfig,
    configFile: string | null,
    weightsFile: string,
    warnings: string[],
    reader: SafetensorsReader,
    tensors: readonly LayoutTensor[],
  ) {
    this.dir = dir;
    this.layout = layout;
    this.config = config;
    this.configFile = configFile;
    this.weightsFile = weightsFile;
    this.warnings = Object.freeze([...warnings]);
    this.#reader = reader;
    this.#tensors = tensors;
  }

  hash(cacheDir?: string): Promise<string> {
    this.#hash ??= weightsSha256(this.weightsFile, cacheDir);
    return this.#hash;
  }

  readWeights(): Promise<ClipWeights> {
    const get = lazyCanonicalTensors(this.#reader, this.#tensors);
    const ln = (key: string) => canonicalLayerNorm(get, key);
    return Promise.resolve({
      vision: {
        patchEmbed: get("vision.patchEmbed"),
        classEmbed: get("vision.classEmbed"),
        posEmbed: get("vision.posEmbed"),
        lnPre: ln("vision.lnPre"),
        blocks: canonicalBlocks(get, "vision", this.config.vision.layers),
        lnPost: ln("vision.lnPost"),
        proj: get("vision.proj"),
      },
      text: { ...canonicalTextTower(get, this.config.text.layers), proj: get("text.proj") },
      logitScale: get("logitScale").data[0],
    });
  }

  async readTokenEmbeddingRows(ids: readonly number[]): Promise<Float32Array> {
    const vocab = this.config.text.vocabSize;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new ShapeError(`Token id out of range: ${id} not in [0, ${vocab})`);
      }
    }
    return await this.#reader.readRows(LAYOUT_NAMES[this.layout].text.tokenEmbed, ids);
  }

  async readCanonicalTensor(key: string): Promise<FloatTensor> {
    const t = this.#tensors.find((t) => t.key === key);
    if (!t) {
      throw new WeightsError(`No canonical tensor named ${key}`, { file: this.weightsFile, tensor: key });
    }
    return await this.#readCanonical(t);
  }

  async readLogitScale(): Promise<number> {
    return (await this.#reader.read(LAYOUT_NAMES[this.layout].logitScale)).data[0];
  }

  close(): void {
    this.#reader.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #readCanonical(t: LayoutTensor): Promise<FloatTensor> {
    const parts: Float32Array[] = [];
    for (const part of t.parts) parts.push((await this.#reader.read(part.name)).data);
    return { shape: t.shape, data: canonicalOf(t, parts) };
  }
}

/**
 * The canonical tensors by key, each read from the file when a graph writer takes it and not kept
 * (valid while the reader is open).
 */
export function lazyCanonicalTensors(
  reader: SafetensorsReader,
  tensors: readonly LayoutTensor[],
): (key: string) => FloatTensor {
  const byKey = new Map<string, FloatTensor>();
  for (const t of tensors) {
    byKey.set(
      t.key,
      lazyTensor(t.shape, () => canonicalOf(t, t.parts.map((p) => reader.readSync(p.name).data))),
    );
  }
  return (key) => byKey.get(key)!;
}

function canonicalLayerNorm(get: (key: string) => FloatTensor, key: string): LayerNormWeights {
  return { weight: get(`${key}.weight`), bias: get(`${key}.bias`) };
}

function canonicalBlocks(
  get: (key: string) => FloatTensor,
  tower: "vision" | "text",
  layers: number,
): BlockWeights[] {
  return Array.from({ length: layers }, (_, i) => {
    const k = `${tower}.blocks.${i}`;
    return {
      ln1: canonicalLayerNorm(get, `${k}.ln1`),
      qkvWeight: get(`${k}.qkvWeight`),
      qkvBias: get(`${k}.qkvBias`),
      outWeight: get(`${k}.outWeight`),
      outBias: get(`${k}.outBias`),
      ln2: canonicalLayerNorm(get, `${k}.ln2`),
      fcWeight: get(`${k}.fcWeight`),
      fcBias: get(`${k}.fcBias`),
      projWeight: get(`${k}.projWeight`),
      projBias: get(`${k}.projBias`),
    };
  });
}

/** The text tower's weights but its output projection (which a text-only checkpoint lacks). */
export function canonicalTextTower(
  get: (key: string) => FloatTensor,
  layers: number,
): Omit<TextWeights, "proj"> {
  return {
    tokenEmbed: get("text.tokenEmbed"),
    posEmbed: get("text.posEmbed"),
    blocks: canonicalBlocks(get, "text", layers),
    lnFinal: canonicalLayerNorm(get, "text.lnFinal"),
  };
}

/** A canonical tensor's values from its stored parts: one part (transposed when the layout says), or several stacked. */
export function canonicalOf(t: LayoutTensor, parts: Float32Array[]): Float32Array {
  if (parts.length === 1) {
    if (!t.transposed) return parts[0];
    const [rows, cols] = t.parts[0].shape;
    return _transpose2d(parts[0], rows, cols);
  }
  const data = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return data;
}
