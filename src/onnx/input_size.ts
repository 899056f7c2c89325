/**
 * Frees the spatial dims of a fully convolutional ONNX model's image input. Exported backbones
 * declare the size they were exported at (the proxy says [N,3,224,224]) and onnxruntime refuses any
 * other, although convolutions, clips and sums run at any size. Rewriting the declaration — the
 * input's height and width become named dims, the outputs' likewise, and the stored intermediate
 * shapes (value_info, a hint only) are dropped — lets the same weights see a frame at 320 pixels or
 * at its own aspect ratio. Whether the graph really is size-agnostic is checked by running it
 * (see adp/patch/onnx_extractor.ts), not assumed.
 *
 * Only the protobuf fields on the path to those shapes are decoded; every other byte is copied.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";
import { ConfigError } from "../errors.ts";
import { type Field, lengthDelimited, parseMessage } from "./_protobuf.ts";

// Field numbers (onnx.proto3).
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_PARAM = 2;
const TENSOR_DATA_LOCATION = 14;

/**
 * Returns a copy of an ONNX model whose input `input` and every output have free trailing spatial
 * dims (named `<name>_height`, `<name>_width`).
 *
 * @param model the model file's bytes
 * @param input the image input's name
 * @returns the rewritten model bytes
 * @throws {ConfigError} when the input is missing, not rank 4, or the weights are stored externally
 *   (the rewritten file could not find them)
 */
export function freeSpatialDims(model: Uint8Array, input: string): Uint8Array {
  const fields = parseMessage(model);
  const graphField = fields.find((f) => f.no === MODEL_GRAPH);
  if (!graphField?.payload) throw new ConfigError("ONNX model has no graph");
  const graphFields = parseMessage(graphField.payload);
  for (const f of graphFields) {
    if (
      f.no === GRAPH_INITIALIZER &&
      parseMessage(f.payload!).some((t) => t.no === TENSOR_DATA_LOCATION && t.value === 1)
    ) {
      throw new ConfigError(
        "ONNX model keeps its weights in an external file: its input size cannot be freed",
      );
    }
  }
  let found = false;
  const parts: Uint8Array[] = [];
  for (const f of graphFields) {
    if (f.no === GRAPH_VALUE_INFO) continue;
    if (f.no === GRAPH_INPUT || f.no === GRAPH_OUTPUT) {
      const name = valueInfoName(f.payload!);
      if (f.no === GRAPH_OUTPUT || name === input) {
        if (f.no === GRAPH_INPUT) found = true;
        parts.push(lengthDelimited(f.no, freeValueInfo(f.payload!, name, f.no === GRAPH_INPUT)));
        continue;
      }
    }
    parts.push(f.raw);
  }
  if (!found) throw new ConfigError(`ONNX model has no input named ${input}`);
  const graph = concatBytes(parts);
  return concatBytes(fields.map((f) => (f === graphField ? lengthDelimited(MODEL_GRAPH, graph) : f.raw)));
}

function valueInfoName(info: Uint8Array): string {
  const f = parseMessage(info).find((x) => x.no === VALUE_INFO_NAME);
  return f ? new TextDecoder().decode(f.payload) : "";
}

/** The value info with dims 2 and 3 of its tensor shape replaced by named dims. */
function freeValueInfo(info: Uint8Array, name: string, isInput: boolean): Uint8Array {
  const rewrite = (f: Field, inner: (payload: Uint8Array) => Uint8Array) =>
    lengthDelimited(f.no, inner(f.payload!));
  const map = (bytes: Uint8Array, no: number, inner: (payload: Uint8Array) => Uint8Array) =>
    concatBytes(parseMessage(bytes).map((f) => (f.no === no && f.payload ? rewrite(f, inner) : f.raw)));
  return map(
    info,
    VALUE_INFO_TYPE,
    (type) =>
      map(type, TYPE_TENSOR, (tensor) =>
        map(tensor, TENSOR_TYPE_SHAPE, (shape) => {
          const dims = parseMessage(shape);
          const rank = dims.filter((d) => d.no === SHAPE_DIM).length;
          if (isInput && rank !== 4) {
            throw new ConfigError(`ONNX input ${name} has rank ${rank}, not 4 (NCHW)`);
          }
          let index = 0;
          return concatBytes(dims.map((d) => {
            if (d.no !== SHAPE_DIM) return d.raw;
            const i = index++;
            if (i < 2 || i > 3) return d.raw;
            const param = new TextEncoder().encode(`${name}_${i === 2 ? "height" : "width"}`);
            return lengthDelimited(SHAPE_DIM, lengthDelimited(DIM_PARAM, param));
          }));
        })),
  );
}
