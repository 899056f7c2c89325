/**
 * Opens a session on a graph built in memory, serialised with its weights inline: nothing touches
 * the disk, so helper graphs open on a machine whose temporary folder is read-only or full.
 *
 * @module
 */
import type { GraphBuilder } from "./graph.ts";
import { serializeOnnxModel } from "./model_file.ts";
import { createSession, type OnnxSession, type SessionOptions } from "./runtime.ts";

/** Opens a session on `graph`. */
export async function openGraphSession(graph: GraphBuilder, opts: SessionOptions = {}): Promise<OnnxSession> {
  const bytes = await serializeOnnxModel(graph, { docString: `ADP Edge helper graph ${graph.name}` });
  return await createSession(bytes, { label: `the ${graph.name} graph`, ...opts });
}
