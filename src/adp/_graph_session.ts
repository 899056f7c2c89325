/**
 * Opens a session on a graph built in memory: the builder's model is written to a private temporary
 * folder, loaded, and the folder removed again (onnxruntime holds what it needs once the session
 * exists), so helper graphs leave nothing behind on disk.
 *
 * @module
 */
import { join } from "node:path";
import type { GraphBuilder } from "../onnx/graph.ts";
import { writeOnnxModel } from "../onnx/model_file.ts";
import { createSession, type OnnxSession, type SessionOptions } from "../onnx/runtime.ts";

/** Writes `graph` to a temporary file, opens it, and removes the file. */
export async function openGraphSession(graph: GraphBuilder, opts: SessionOptions = {}): Promise<OnnxSession> {
  const dir = await Deno.makeTempDir({ prefix: "adp-graph-" });
  try {
    const path = join(dir, `${graph.name}.onnx`);
    await writeOnnxModel(graph, path, { docString: `ADP Edge helper graph ${graph.name}` });
    return await createSession(path, { label: `the ${graph.name} graph`, ...opts });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens a session on model bytes (a rewritten model file) the same way. */
export async function openBytesSession(
  bytes: Uint8Array,
  name: string,
  opts: SessionOptions = {},
): Promise<OnnxSession> {
  const dir = await Deno.makeTempDir({ prefix: "adp-model-" });
  try {
    const path = join(dir, `${name}.onnx`);
    await Deno.writeFile(path, bytes);
    return await createSession(path, { label: name, ...opts });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
