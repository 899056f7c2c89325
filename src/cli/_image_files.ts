/**
 * Image files named on a command line: files, folders read recursively with symbolic links followed
 * (each real folder once), and quoted globs (`*` within a name, `**` across folders). `adp score`
 * and `adp camera --dir` both read their images through here, in the same deterministic order.
 *
 * @module
 */
import { extname, join } from "node:path";
import { Random } from "../random.ts";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);

/** Image files under `paths`, sorted within each path, each once. */
export async function collectImages(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    const glob = /[*?]/.test(path) ? globPattern(path) : undefined;
    const root = glob ? glob.root : path;
    const info = await Deno.stat(root);
    const files = info.isDirectory ? await walkImages(root) : [root];
    found.push(...files.filter((f) => !glob || glob.regex.test(f)).sort());
  }
  return [...new Set(found)];
}

/** The folder a glob starts from and a regular expression for whole paths under it. */
function globPattern(pattern: string): { root: string; regex: RegExp } {
  const parts = pattern.split("/");
  const first = parts.findIndex((p) => /[*?]/.test(p));
  const root = parts.slice(0, first).join("/") || ".";
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*\*\//g, "\uE000").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(
      /\uE000/g,
      "(?:.*/)?",
    );
  return {
    root,
    regex: new RegExp(`^${root === "." && !pattern.startsWith("./") ? "(?:\\./)?" : ""}${escaped}$`),
  };
}

/** PNG and JPEG files below `dir`, following symbolic links (each real folder visited once). */
async function walkImages(dir: string, seen = new Set<string>()): Promise<string[]> {
  const real = await Deno.realPath(dir);
  if (seen.has(real)) return [];
  seen.add(real);
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const info = entry.isSymlink ? await Deno.stat(path).catch(() => undefined) : entry;
    if (info?.isDirectory) out.push(...await walkImages(path, seen));
    else if (info?.isFile && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(path);
  }
  return out;
}

/**
 * The images of a camera folder: every PNG and JPEG below `dir` (symbolic links followed), sorted
 * by path, optionally filtered by `glob` (relative to `dir`; without a "/" it matches a file name at
 * any depth) and shuffled by a seeded generator (the same seed, the same order).
 */
export async function folderImages(
  dir: string,
  opts: { glob?: string; shuffle?: boolean; seed?: number } = {},
): Promise<string[]> {
  const { glob } = opts;
  // A camera folder must be a folder: reading it says so in the OS's words when it is not (ENOTDIR).
  for await (const _ of Deno.readDir(dir)) break;
  const pattern = glob === undefined ? dir : join(dir, glob.includes("/") ? glob : `**/${glob}`);
  const files = await collectImages([pattern]);
  if (!opts.shuffle) return files;
  return new Random(opts.seed ?? 0).sample(files.length, files.length).map((i) => files[i]);
}
