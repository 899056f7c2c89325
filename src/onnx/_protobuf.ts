/**
 * A minimal protocol-buffers encoder: just the wire types ONNX's messages use (varint, 32-bit,
 * length-delimited). Messages are assembled bottom-up as byte chunks, so a model of any size costs
 * one final copy.
 *
 * @module
 */

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
