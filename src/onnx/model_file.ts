/**
 * Serialises a built graph as an ONNX model file. Large initializers go to an external-data file
 * beside it, so models past protobuf's 2 GiB message limit (ViT-H/14 in float32) load, and
 * onnxruntime can map the weights instead of copying them through a protobuf parser.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { ProtoWriter } from "./_protobuf.ts";
import {
  type Attr,
  type Dim,
  DType,
  type GraphBuilder,
  type Initializer,
  initializerData,
  type Node,
  OPSET,
  type Value,
} from "./graph.ts";

/** Initializers at least this large (bytes) are stored externally. */
const EXTERNAL_THRESHOLD = 1024;
/** External tensors start on page boundaries so that a memory-mapped file needs no realignment copy. */
const EXTERNAL_ALIGN = 4096;
const IR_VERSION = 9;
const MICROSOFT_DOMAIN = "com.microsoft";

/** Options for {@linkcode writeOnnxModel}. */
export interface WriteModelOptions {
  /** Free text stored in the model's doc string (what built it, from which checkpoint). */
  docString?: string;
}

/**
 * Writes `graph` to `path` (the model) and `path + ".data"` (the external weights), or to
 * `externalData` beside the model when given (Optimum names it `model.onnx_data`).
 *
 * @returns the byte sizes written
 */
export async function writeOnnxModel(
  graph: GraphBuilder,
  path: string,
  opts: WriteModelOptions & { externalData?: string } = {},
): Promise<{ modelBytes: number; dataBytes: number }> {
  const dataPath = opts.externalData ? join(dirname(path), opts.externalData) : `${path}.data`;
  const dataFile = await Deno.open(dataPath, { write: true, create: true, truncate: true });
  let dataBytes = 0;
  let graphProto: ProtoWriter;
  try {
    graphProto = await graphProtoOf(graph, async (init, bytes) => {
      if (bytes.length < EXTERNAL_THRESHOLD) return tensorProtoHeader(init).bytes(9, bytes);
      const offset = Math.ceil(dataBytes / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      if (offset > dataBytes) await writeAll(dataFile, new Uint8Array(offset - dataBytes));
      await writeAll(dataFile, bytes);
      dataBytes = offset + bytes.length;
      return externalTensorProto(init, basename(dataPath), offset, bytes.length);
    });
  } finally {
    dataFile.close();
  }
  const modelBytes = modelProtoOf(graph, graphProto, opts).bytesOut();
  await Deno.writeFile(path, modelBytes);
  return { modelBytes: modelBytes.length, dataBytes };
}

/**
 * `graph` as one model in memory, every weight inline: for the small helper graphs that are opened
 * straight from bytes, so that opening one writes nothing to disk (a read-only /tmp included).
 *
 * @throws {RangeError} when the weights exceed what one protobuf message may hold
 */
export async function serializeOnnxModel(
  graph: GraphBuilder,
  opts: WriteModelOptions = {},
): Promise<Uint8Array> {
  let total = 0;
  const graphProto = await graphProtoOf(graph, (init, bytes) => {
    total += bytes.length;
    if (total > MAX_INLINE_BYTES) {
      throw new RangeError(
        `Graph ${graph.name} holds over ${MAX_INLINE_BYTES} bytes of weights: write it to a file`,
      );
    }
    return Promise.resolve(tensorProtoHeader(init).bytes(9, bytes));
  });
  return modelProtoOf(graph, graphProto, opts).bytesOut();
}

/** Protobuf messages are limited to 2 GiB; inline models stay well below. */
const MAX_INLINE_BYTES = 1 << 30;

/** The GraphProto: nodes, name, initializers (as `initializer` encodes each), inputs, outputs. */
async function graphProtoOf(
  graph: GraphBuilder,
  initializer: (init: Initializer, bytes: Uint8Array) => Promise<ProtoWriter>,
): Promise<ProtoWriter> {
  const graphProto = new ProtoWriter();
  for (const node of graph.nodes) graphProto.message(1, nodeProto(node));
  graphProto.string(2, graph.name);
  for (const init of graph.initializers) graphProto.message(5, await initializer(init, tensorBytes(init)));
  for (const input of graph.inputs) graphProto.message(11, valueInfo(input));
  for (const output of graph.outputs) graphProto.message(12, valueInfo(output));
  return graphProto;
}

/** The ModelProto around a graph: IR version, producer, doc string, opsets. */
function modelProtoOf(graph: GraphBuilder, graphProto: ProtoWriter, opts: WriteModelOptions): ProtoWriter {
  const model = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, "adp-edge")
    .string(3, "1");
  if (opts.docString) model.string(6, opts.docString);
  model.message(7, graphProto);
  model.message(8, new ProtoWriter().string(1, "").int(2, OPSET));
  if (graph.nodes.some((n) => n.op.domain === MICROSOFT_DOMAIN)) {
    model.message(8, new ProtoWriter().string(1, MICROSOFT_DOMAIN).int(2, 1));
  }
  return model;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

function tensorBytes(init: Initializer): Uint8Array {
  const d = initializerData(init);
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function tensorProtoHeader(init: Initializer): ProtoWriter {
  const t = new ProtoWriter();
  for (const d of init.value.shape) t.int(1, d as number);
  t.int(2, DType[init.value.dtype]);
  t.string(8, init.value.name);
  return t;
}

function externalTensorProto(
  init: Initializer,
  location: string,
  offset: number,
  length: number,
): ProtoWriter {
  const t = tensorProtoHeader(init);
  const entry = (key: string, value: string) => new ProtoWriter().string(1, key).string(2, value);
  t.message(13, entry("location", location));
  t.message(13, entry("offset", String(offset)));
  t.message(13, entry("length", String(length)));
  t.int(14, 1); // DataLocation.EXTERNAL
  return t;
}

function nodeProto(node: Node): ProtoWriter {
  const p = new ProtoWriter();
  for (const input of node.inputs) p.string(1, input ? input.name : "");
  for (const output of node.outputs) p.string(2, output.name);
  p.string(3, node.name);
  p.string(4, node.op.opType);
  for (const [name, value] of Object.entries(node.attrs)) p.message(5, attributeProto(name, value));
  if (node.op.domain) p.string(7, node.op.domain);
  return p;
}

// AttributeProto.AttributeType values.
const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

function attributeProto(name: string, a: Attr): ProtoWriter {
  const p = new ProtoWriter().string(1, name);
  switch (a.type) {
    case "float":
      p.float(2, a.value);
      break;
    case "int":
      p.int(3, a.value);
      break;
    case "string":
      p.string(4, a.value);
      break;
    case "floats":
      for (const v of a.value) p.float(7, v);
      break;
    case "ints":
      for (const v of a.value) p.int(8, v);
      break;
  }
  return p.int(20, ATTR_TYPE[a.type]);
}

function valueInfo(value: Value): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of value.shape) shape.message(1, dimension(d));
  const tensorType = new ProtoWriter().int(1, DType[value.dtype]).message(2, shape);
  return new ProtoWriter().string(1, value.name).message(2, new ProtoWriter().message(1, tensorType));
}

function dimension(d: Dim): ProtoWriter {
  const p = new ProtoWriter();
  if (typeof d === "number") p.int(1, d);
  else if (!d.startsWith("?")) p.string(2, d);
  return p;
}
