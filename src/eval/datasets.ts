/**
 * Anomaly-detection datasets in the MVTec AD folder layout or the VisA layout, and the few-shot draw
 * of normal images.
 *
 * ```
 * <category>/train/good/<name>.<png|jpg>            normal training images
 * <category>/test/good/<name>.<png|jpg>             normal test images
 * <category>/test/<defect>/<name>.<png|jpg>         anomalous test images
 * <category>/ground_truth/<defect>/<name>_mask.png  their masks (non-zero = defect)
 * ```
 *
 * A category without a `ground_truth/` folder is labelled per image only (ELPV): its anomalous
 * samples carry no mask and pixel metrics do not apply. Files and folders may be symbolic links
 * (a subset of a dataset laid out as a folder of links).
 *
 * VisA keeps images by class, not by split; a CSV under the dataset root says which is which:
 *
 * ```
 * split_csv/1cls.csv                                object,split,label,image,mask (paths root-relative)
 * <category>/Data/Images/{Normal,Anomaly}/<name>    the images
 * <category>/Data/Masks/Anomaly/<name>.png          the anomalies' masks
 * ```
 *
 * The tree is read and checked completely before anything is evaluated, so a missing mask or a
 * misnamed folder fails at once with the path, not halfway through a long run. Listings are sorted
 * (by code unit) so that a seed draws the same images on every machine.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, ImageError } from "../errors.ts";
import { decodeImage, type Raster8, type Rgb8Image } from "../image/mod.ts";
import { Random } from "../random.ts";

/** The label of normal images, as a folder name under `train/` and `test/`. */
export const GOOD = "good";

const IMAGE_EXTENSION_REGEXP = /\.(png|jpe?g|bmp)$/i;
const MASK_SUFFIX = "_mask.png";

/** One test image. */
export interface TestSample {
  /** Absolute or root-relative path of the image. */
  path: string;
  /** `good` or the defect folder's name. */
  defect: string;
  /** 1 for anomalous, 0 for normal. */
  label: 0 | 1;
  /** The ground-truth mask; absent for normal images (their mask is empty) and in image-label-only sets. */
  maskPath?: string;
}

/** One category of an MVTec-layout dataset. */
export interface AnomalyDataset {
  /** The category folder. */
  root: string;
  /** The category's name (the folder's base name). */
  category: string;
  /** Normal training images, sorted. */
  train: string[];
  /** Test images, sorted by defect folder then name; `good` first. */
  test: TestSample[];
  /** Defect folder names, sorted. */
  defects: string[];
}

/**
 * Reads and checks one category folder of an MVTec-layout dataset.
 *
 * @param root the category folder (e.g. `…/mvtec-ad/bottle`)
 * @returns the sorted image lists with labels and mask paths
 * @throws {ConfigError} naming the path when a folder is missing or empty, or, where the category
 *   has a `ground_truth/` folder, a defect has no ground-truth folder or an anomalous image no mask
 *
 * @example Read a category
 * ```ts ignore
 * const bottle = await readMvtecDataset("../shared/datasets/mvtec-ad/bottle");
 * console.log(bottle.train.length, bottle.test.length, bottle.defects);
 * ```
 */
export async function readMvtecDataset(root: string): Promise<AnomalyDataset> {
  const category = root.replace(/\/+$/, "").split("/").pop() ?? root;
  const train = await listImages(join(root, "train", GOOD), "the normal training images");
  if (train.length === 0) {
    throw new ConfigError(`Dataset has no normal training images: ${join(root, "train", GOOD)}`);
  }
  const testDirs = await listDirs(join(root, "test"), "the test images");
  if (!testDirs.includes(GOOD)) {
    throw new ConfigError(`Dataset has no normal test images: ${join(root, "test", GOOD)} is missing`);
  }
  const defects = testDirs.filter((d) => d !== GOOD);
  if (defects.length === 0) throw new ConfigError(`Dataset has no defect folders: ${join(root, "test")}`);
  const test: TestSample[] = [];
  const masked = await isDirectory(join(root, "ground_truth"));
  for (const defect of [GOOD, ...defects]) {
    const images = await listImages(join(root, "test", defect), `the ${defect} test images`);
    if (images.length === 0) throw new ConfigError(`Test folder is empty: ${join(root, "test", defect)}`);
    if (defect === GOOD || !masked) {
      for (const path of images) test.push({ path, defect, label: defect === GOOD ? 0 : 1 });
      continue;
    }
    const maskDir = join(root, "ground_truth", defect);
    const masks = new Set(await listFiles(maskDir, `the ${defect} masks`));
    for (const path of images) {
      const stem = path.slice(path.lastIndexOf("/") + 1).replace(IMAGE_EXTENSION_REGEXP, "");
      const mask = `${stem}${MASK_SUFFIX}`;
      if (!masks.has(mask)) {
        throw new ConfigError(`Anomalous image has no mask: ${path} needs ${join(maskDir, mask)}`);
      }
      test.push({ path, defect, label: 1, maskPath: join(maskDir, mask) });
    }
  }
  return { root, category, train, test, defects };
}

/**
 * Draws the K normal images of one few-shot run: `k` distinct training images chosen by `seed`
 * (our seeded generator, stream `k-shot`; numpy's RandomState draws are not reproduced).
 *
 * @param train the training images to draw from
 * @param opts the number of shots and the seed
 * @returns `k` distinct paths in draw order
 * @throws {ConfigError} when k is not an integer in 1…train.length
 *
 * @example The same seed draws the same shots
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const files = ["a.png", "b.png", "c.png", "d.png"];
 * deepStrictEqual(sampleShots(files, { k: 2, seed: 7 }), sampleShots(files, { k: 2, seed: 7 }));
 * ```
 */
export function sampleShots(train: readonly string[], opts: { k: number; seed: number }): string[] {
  const { k, seed } = opts;
  if (!Number.isInteger(k) || k < 1 || k > train.length) {
    throw new ConfigError(`Shots must be an integer from 1 to ${train.length}: got ${k}`);
  }
  return Random.forStream(seed, "k-shot").sample(train.length, k).map((i) => train[i]);
}

/**
 * Reads and decodes one image file as RGB (grey replicated).
 *
 * @param path the image file
 * @returns the decoded image
 * @throws {ImageError} naming the file when it cannot be decoded
 */
export async function loadImage(path: string): Promise<Rgb8Image> {
  const bytes = await Deno.readFile(path);
  try {
    return await decodeImage(bytes);
  } catch (error) {
    throw new ImageError(`Image cannot be decoded: ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The ground-truth mask of a test sample as one 8-bit channel (0 normal, non-zero defect); an empty
 * mask of the image's size for normal samples.
 *
 * @param sample the test sample
 * @param size the image's size, which the mask must have
 * @returns the mask raster
 * @throws {ImageError} when the mask cannot be decoded or its size differs from the image's
 */
export async function loadMask(
  sample: TestSample,
  size: { width: number; height: number },
): Promise<Raster8> {
  const { width, height } = size;
  if (!sample.maskPath) return { width, height, channels: 1, data: new Uint8Array(width * height) };
  const rgb = await loadImage(sample.maskPath);
  if (rgb.width !== width || rgb.height !== height) {
    throw new ImageError(
      `Mask size differs from its image: ${sample.maskPath} is ${rgb.width}×${rgb.height}, ` +
        `${sample.path} is ${width}×${height}`,
    );
  }
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = rgb.data[3 * i];
  return { width, height, channels: 1, data };
}

async function listEntries(dir: string, what: string): Promise<Deno.DirEntry[]> {
  try {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".")) continue;
      if (!e.isSymlink) entries.push(e);
      else {
        // A link counts as what it points to; a dangling one is skipped like any non-image.
        const target = await Deno.stat(join(dir, e.name)).catch(() => undefined);
        if (target) entries.push({ ...e, isFile: target.isFile, isDirectory: target.isDirectory });
      }
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      throw new ConfigError(`Dataset folder is missing: ${dir} should hold ${what}`, { cause: error });
    }
    throw error;
  }
}

async function listDirs(dir: string, what: string): Promise<string[]> {
  return (await listEntries(dir, what)).filter((e) => e.isDirectory).map((e) => e.name);
}

async function listFiles(dir: string, what: string): Promise<string[]> {
  return (await listEntries(dir, what)).filter((e) => e.isFile).map((e) => e.name);
}

async function listImages(dir: string, what: string): Promise<string[]> {
  return (await listFiles(dir, what)).filter((n) => IMAGE_EXTENSION_REGEXP.test(n)).map((n) => join(dir, n));
}

/** VisA's one-class split file, relative to the dataset root. */
export const VISA_SPLIT_CSV = "split_csv/1cls.csv";
const VISA_COLUMNS = ["object", "split", "label", "image", "mask"] as const;
type VisaColumn = typeof VISA_COLUMNS[number];
/** The defect name VisA's anomalous test samples get (VisA does not name defect kinds). */
export const VISA_DEFECT = "anomaly";

/**
 * Reads and checks one category of a VisA-layout dataset from its split CSV.
 *
 * @param root the dataset root (holding `split_csv/` and the category folders)
 * @param category the object name as the CSV's `object` column spells it (e.g. `candle`)
 * @returns the category's training normals and test samples; anomalous samples have defect `anomaly`
 * @throws {ConfigError} naming the file, line or path when the CSV is missing or malformed, the
 *   category is absent, a folder is missing, a listed file does not exist, or an anomaly has no mask
 *
 * @example Read a category
 * ```ts ignore
 * const candle = await readVisaDataset("/data/VisA", "candle");
 * console.log(candle.train.length, candle.test.length);
 * ```
 */
export async function readVisaDataset(root: string, category: string): Promise<AnomalyDataset> {
  const csvPath = join(root, VISA_SPLIT_CSV);
  const { column, mine } = await readVisaSplit(csvPath, category);
  const categoryDir = join(root, category);
  const folders = {
    normal: join(categoryDir, "Data", "Images", "Normal"),
    anomaly: join(categoryDir, "Data", "Images", "Anomaly"),
    masks: join(categoryDir, "Data", "Masks", "Anomaly"),
  };
  const present = new Set<string>();
  for (const [what, dir] of Object.entries(folders)) {
    for (const name of await listFiles(dir, `the ${what === "masks" ? "anomaly masks" : `${what} images`}`)) {
      present.add(join(dir, name));
    }
  }
  const train: string[] = [], good: TestSample[] = [], anomalous: TestSample[] = [];
  for (const { row, where } of mine) {
    const field = (name: VisaColumn) => row[column[name]].trim();
    const split = field("split"), label = field("label");
    if (split !== "train" && split !== "test") {
      throw new ConfigError(`VisA split must be train or test: got "${split}" at ${where}`);
    }
    if (label !== "normal" && label !== "anomaly") {
      throw new ConfigError(`VisA label must be normal or anomaly: got "${label}" at ${where}`);
    }
    const path = join(root, field("image"));
    if (!present.has(path)) {
      throw new ConfigError(
        `VisA image is missing: ${path} (listed at ${where}) should be in ${
          label === "normal" ? folders.normal : folders.anomaly
        }`,
      );
    }
    if (label === "normal") {
      if (split === "train") train.push(path);
      else good.push({ path, defect: GOOD, label: 0 });
      continue;
    }
    if (split === "train") {
      throw new ConfigError(`VisA training images must be normal: ${path} is an anomaly at ${where}`);
    }
    if (!field("mask")) throw new ConfigError(`Anomalous image has no mask: ${path} at ${where}`);
    const maskPath = join(root, field("mask"));
    if (!present.has(maskPath)) {
      throw new ConfigError(`Anomalous image has no mask: ${path} needs ${maskPath} (listed at ${where})`);
    }
    anomalous.push({ path, defect: VISA_DEFECT, label: 1, maskPath });
  }
  if (train.length === 0) {
    throw new ConfigError(`Dataset has no normal training images: ${category} in ${csvPath}`);
  }
  if (good.length === 0) {
    throw new ConfigError(`Dataset has no normal test images: ${category} in ${csvPath}`);
  }
  if (anomalous.length === 0) {
    throw new ConfigError(`Dataset has no anomalous test images: ${category} in ${csvPath}`);
  }
  const byPath = (a: TestSample, b: TestSample) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    root: categoryDir,
    category,
    train: train.sort(),
    test: [...good.sort(byPath), ...anomalous.sort(byPath)],
    defects: [VISA_DEFECT],
  };
}

/** The rows of VisA's split CSV that belong to `category`, each with its line for messages. */
async function readVisaSplit(
  csvPath: string,
  category: string,
): Promise<{ column: Record<VisaColumn, number>; mine: { row: string[]; where: string }[] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(csvPath);
  } catch (error) {
    throw new ConfigError(`VisA split file is missing: ${csvPath}`, { cause: error });
  }
  const rows = parseCsv(text, csvPath);
  const header = rows.shift()?.map((h) => h.trim()) ?? [];
  const column = Object.fromEntries(VISA_COLUMNS.map((name) => [name, header.indexOf(name)])) as Record<
    VisaColumn,
    number
  >;
  const absent = VISA_COLUMNS.filter((name) => column[name] < 0);
  if (absent.length) {
    throw new ConfigError(
      `VisA split file lacks column ${absent.join(", ")}: ${csvPath} has header ${header.join(",")}`,
    );
  }
  const mine: { row: string[]; where: string }[] = [];
  const objects = new Set<string>();
  rows.forEach((row, index) => {
    const where = `${csvPath} line ${index + 2}`;
    if (row.length !== header.length) {
      throw new ConfigError(`VisA split row has ${row.length} fields, the header ${header.length}: ${where}`);
    }
    const object = row[column.object].trim();
    objects.add(object);
    if (object === category) mine.push({ row, where });
  });
  if (!objects.has(category)) {
    throw new ConfigError(
      `VisA split file has no object "${category}": ${csvPath} lists ${
        [...objects].sort().join(", ") || "none"
      }`,
    );
  }
  return { column, mine };
}

/**
 * Reads a category from a dataset root in whichever layout it has: MVTec AD when
 * `<root>/<category>/train` exists, VisA when `<root>/split_csv/1cls.csv` does.
 *
 * @param root the dataset root (the folder holding the category folders)
 * @param category the category's name
 * @returns the category
 * @throws {ConfigError} when the root holds neither layout for the category, or the tree is malformed
 */
export async function readDataset(root: string, category: string): Promise<AnomalyDataset> {
  if (await isDirectory(join(root, category, "train"))) return await readMvtecDataset(join(root, category));
  if (await isFile(join(root, VISA_SPLIT_CSV))) return await readVisaDataset(root, category);
  throw new ConfigError(
    `Category ${category} is in no known layout: expected ${
      join(root, category, "train", GOOD)
    } (MVTec AD) ` +
      `or ${join(root, VISA_SPLIT_CSV)} (VisA)`,
  );
}

/** Rows of a CSV text: RFC 4180 quoting, LF or CRLF line ends, blank lines ignored. */
function parseCsv(text: string, source: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  const endField = () => {
    row.push(field);
    field = "";
  };
  const endRow = () => {
    endField();
    if (row.length > 1 || row[0] !== "") rows.push(row);
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") line++;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') field += text[i++];
      else quoted = false;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") endField();
    else if (c === "\n") endRow();
    else if (c !== "\r" || text[i + 1] !== "\n") field += c;
  }
  if (quoted) throw new ConfigError(`CSV has an unterminated quote: ${source} line ${line}`);
  endRow();
  if (rows.length === 0) throw new ConfigError(`CSV is empty: ${source}`);
  return rows;
}

async function isDirectory(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isDirectory, () => false);
}

async function isFile(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isFile, () => false);
}
