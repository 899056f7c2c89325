/**
 * Built graphs on disk, keyed by checkpoint hash and graph kind, so that a restart opens the
 * models directly instead of rebuilding them (minutes for ViT-H/14). Entries appear atomically: a
 * graph is written into a temporary folder that is renamed into place only when complete.
 *
 * @module
 */
import { join } from "node:path";
import { homedir } from "node:os";
import { type GraphBuilder, writeOnnxModel } from "../onnx/mod.ts";

/**
 * Bumped whenever a graph builder changes what it emits, so stale cached graphs are never used
 * (2: the vision graph's attention as one float32 MultiHeadAttention node; precision in the key;
 * 3: `patch_features` added; ln_post and the projection on the class token alone, `projected_tokens`
 * dropped; 4: the vision graph's last block on the class token alone, its `tokens` output dropped).
 */
export const GRAPH_FORMAT_VERSION = 4;

const MODEL_FILE = "model.onnx";

/** Where graphs are cached unless told otherwise: `$ADP_CACHE_DIR`, else `$XDG_CACHE_HOME/adp-edge`, else `~/.cache/adp-edge`. */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("ADP_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return join(xdg || join(homedir(), ".cache"), "adp-edge");
}

/** The path a cached graph has (whether or not it exists yet). */
export function cachedGraphPath(cacheDir: string, checkpointHash: string, kind: string): string {
  return join(
    cacheDir,
    "graphs",
    `${checkpointHash.slice(0, 24)}-${kind}-v${GRAPH_FORMAT_VERSION}`,
    MODEL_FILE,
  );
}

/** Whether a complete cached graph exists at `path`. */
export async function isCached(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a built graph into the cache, atomically; returns the model path. */
export async function storeGraph(path: string, graph: GraphBuilder, docString: string): Promise<string> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const tmp = `${dir}.tmp-${Deno.pid}-${Date.now()}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await writeOnnxModel(graph, join(tmp, MODEL_FILE), { docString });
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, dir);
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  }
  return path;
}
