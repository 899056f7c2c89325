/**
 * A minimal protocol-buffers encoder: just the wire types ONNX's messages use (varint, 32-bit,
 * length-delimited). Messages are assembled bottom-up as byte chunks, so a model of any size costs
 * one final copy. The reader decodes one level of a message at a time, for rewriting models made
 * elsewhere (input sizes, weight precision) while copying every byte it does not change.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const textEncoder = new TextEncoder();

/** An encoded message under construction; `bytes()` flattens it. */
export class ProtoWriter {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** Total encoded length so far. */
  get length(): number {
    return this.#length;
  }

  #push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  #tag(field: number, wire: number): void {
    this.#varint(BigInt(field * 8 + wire));
  }

  #varint(value: bigint): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes), as protobuf requires.
    let v = BigInt.asUintN(64, value);
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.#push(Uint8Array.from(out));
  }

  /** An int32/int64/enum/bool field. */
  int(field: number, value: number | bigint): this {
    this.#tag(field, WIRE_VARINT);
    this.#varint(BigInt(value));
    return this;
  }

  /** A float field (fixed 32-bit). */
  float(field: number, value: number): this {
    this.#tag(field, WIRE_I32);
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, value, true);
    this.#push(buf);
    return this;
  }

  /** A bytes field. */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WIRE_LEN);
    this.#varint(BigInt(value.length));
    this.#push(value);
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** An embedded message field. */
  message(field: number, value: ProtoWriter): this {
    this.#tag(field, WIRE_LEN);
    this.#varint(BigInt(value.length));
    for (const chunk of value.#chunks) this.#push(chunk);
    return this;
  }

  /** The encoded message. */
  bytesOut(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** One field of a decoded message, its bytes shared with the input. */
export interface Field {
  no: number;
  wireType: number;
  /** The whole field, key included, as it appears in the message. */
  raw: Uint8Array;
  /** The payload of a length-delimited field; the value of a varint. */
  payload?: Uint8Array;
  value?: number;
}

/**
 * The top-level fields of an encoded message, in order; nested messages stay encoded (decode their
 * `payload` on the way to what is wanted, copy every other field's `raw`).
 *
 * @throws {ConfigError} when the bytes are not a protobuf message
 */
export function parseMessage(bytes: Uint8Array): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const varint = (): number => {
    let result = 0, scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new ConfigError("ONNX model is truncated or not a protobuf");
      const b = bytes[at++];
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) return result;
    }
  };
  while (at < bytes.length) {
    const start = at;
    const key = varint();
    const no = Math.floor(key / 8), wireType = key & 7;
    let payload: Uint8Array | undefined, value: number | undefined;
    if (wireType === 0) value = varint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else if (wireType === 2) {
      const length = varint();
      payload = bytes.subarray(at, at + length);
      at += length;
    } else throw new ConfigError(`ONNX model holds an unsupported protobuf wire type ${wireType}`);
    if (at > bytes.length) throw new ConfigError("ONNX model is truncated or not a protobuf");
    fields.push({ no, wireType, raw: bytes.subarray(start, at), payload, value });
  }
  return fields;
}

function encodeVarint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A length-delimited field (a nested message, bytes) with its key. */
export function lengthDelimited(no: number, payload: Uint8Array): Uint8Array {
  const head = [...encodeVarint(no * 8 + 2), ...encodeVarint(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}
