/**
 * A tiny assembler for WebAssembly SIMD kernels written as linear instruction lists, and a cache of
 * their instances: the PNG un-filtering and the bicubic resampler run per frame, and plain
 * JavaScript loops over typed arrays were 3–5× slower than these kernels. The assembler turns
 * linear, WAT-like text (`;;` comments, `$name` locals, `offset=N` on memory accesses, `br_if` by
 * depth) into a module that exports its own memory; only the instructions the kernels use are in
 * its table.
 *
 * @module
 */
/** The value types kernel locals may have (parameters are all i32). */
/** A kernel local's type. */
export type WasmType = "i32" | "v128";

/** One kernel function: i32 parameters (pointers and sizes), typed locals, a linear WAT-like body. */
export interface WasmFunction {
  /** The exported name. */
  name: string;
  /** Names of the i32 parameters, in call order. */
  params: string[];
  /** Typed locals by name. */
  locals: Record<string, WasmType>;
  /** The function body in WAT-like text. */
  body: string;
}

/** A kernel as JavaScript calls it: i32 arguments, no result. */
export type WasmKernel = (...args: number[]) => void;

/** Memory above this is not kept between calls: a rare huge image gets an instance of its own. */
const RETAINED_WASM_BYTES = 64 << 20;

/**
 * A set of kernels compiled once, with one shared instance whose memory grows to the largest
 * ordinary request. @internal
 */
export class WasmKernels {
  #functions: WasmFunction[];
  #module?: WebAssembly.Module;
  #shared?: WebAssembly.Instance;

  /** Kernels of `functions`, compiled on first use. */
  constructor(functions: WasmFunction[]) {
    this.#functions = functions;
  }

  /** An instance with at least `bytes` of memory, and a byte view of that memory. */
  reserve(bytes: number): { heap: Uint8Array; run: Record<string, WasmKernel> } {
    this.#module ??= new WebAssembly.Module(assembleWasm(this.#functions));
    const instance = bytes > RETAINED_WASM_BYTES
      ? new WebAssembly.Instance(this.#module)
      : (this.#shared ??= new WebAssembly.Instance(this.#module));
    const memory = instance.exports.memory as WebAssembly.Memory;
    const missing = bytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return {
      heap: new Uint8Array(memory.buffer),
      run: instance.exports as unknown as Record<string, WasmKernel>,
    };
  }
}

/** Hands out 16-byte aligned regions of kernel memory, each followed by at least 16 bytes of slack. */
export class WasmLayout {
  #top = 0;

  /** Bytes needed for everything taken so far. */
  get size(): number {
    return this.#top;
  }

  /** Reserves `bytes` and returns where they start. */
  take(bytes: number): number {
    const at = this.#top;
    this.#top += (bytes + 31) & ~15;
    return at;
  }
}

/** Opcode bytes and the immediate each instruction takes. */
const WASM_OPS: Record<string, [number[], "" | "block" | "local" | "i32" | "u32" | "mem" | "memlane"]> = {
  loop: [[0x03], "block"],
  end: [[0x0b], ""],
  br_if: [[0x0d], "u32"],
  "local.get": [[0x20], "local"],
  "local.set": [[0x21], "local"],
  "local.tee": [[0x22], "local"],
  "i32.load": [[0x28], "mem"],
  "i32.const": [[0x41], "i32"],
  "i32.lt_s": [[0x48], ""],
  "i32.add": [[0x6a], ""],
  "i32.sub": [[0x6b], ""],
  "i32.mul": [[0x6c], ""],
  "i32.shl": [[0x74], ""],
  "i32.shr_s": [[0x75], ""],
  "v128.load": [[0xfd, 0x00], "mem"],
  "v128.load32_splat": [[0xfd, 0x09], "mem"],
  "v128.store": [[0xfd, 0x0b], "mem"],
  "v128.load32_zero": [[0xfd, 0x5c], "mem"],
  "v128.load64_zero": [[0xfd, 0x5d], "mem"],
  "v128.store32_lane": [[0xfd, 0x5a], "memlane"],
  "v128.store64_lane": [[0xfd, 0x5b], "memlane"],
  "v128.bitselect": [[0xfd, 0x52], ""],
  "i32x4.splat": [[0xfd, 0x11], ""],
  "i16x8.le_s": [[0xfd, 0x33], ""],
  "v128.and": [[0xfd, 0x4e], ""],
  "i16x8.splat": [[0xfd, 0x10], ""],
  "i8x16.narrow_i16x8_u": [[0xfd, 0x66], ""],
  "i16x8.abs": [[0xfd, 0x80, 0x01], ""],
  "i16x8.narrow_i32x4_s": [[0xfd, 0x85, 0x01], ""],
  "i16x8.extend_low_i8x16_u": [[0xfd, 0x89, 0x01], ""],
  "i16x8.extend_high_i8x16_u": [[0xfd, 0x8a, 0x01], ""],
  "i16x8.add": [[0xfd, 0x8e, 0x01], ""],
  "i16x8.sub": [[0xfd, 0x91, 0x01], ""],
  "i16x8.min_s": [[0xfd, 0x96, 0x01], ""],
  "i32x4.extend_low_i16x8_u": [[0xfd, 0xa9, 0x01], ""],
  "i32x4.extend_high_i16x8_u": [[0xfd, 0xaa, 0x01], ""],
  "i32x4.shr_s": [[0xfd, 0xac, 0x01], ""],
  "i32x4.add": [[0xfd, 0xae, 0x01], ""],
  "i32x4.mul": [[0xfd, 0xb5, 0x01], ""],
};

const WASM_TYPES: Record<WasmType, number> = { i32: 0x7f, v128: 0x7b };

function assembleWasm(functions: WasmFunction[]): Uint8Array<ArrayBuffer> {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, items: number[][]) => {
    const body = wasmVector(items);
    out.push(id, ...leb128(body.length), ...body);
  };
  const name = (s: string) => wasmVector([...new TextEncoder().encode(s)].map((b) => [b]));
  section(1, functions.map((f) => [0x60, ...wasmVector(f.params.map(() => [WASM_TYPES.i32])), 0x00]));
  section(3, functions.map((_, i) => leb128(i)));
  section(5, [[0x00, 0x01]]);
  section(7, [...functions.map((f, i) => [...name(f.name), 0x00, ...leb128(i)]), [
    ...name("memory"),
    0x02,
    0x00,
  ]]);
  section(
    10,
    functions.map((f) => {
      const locals = wasmVector(Object.values(f.locals).map((t) => [0x01, WASM_TYPES[t]]));
      const code = [...locals, ...assembleBody(f), 0x0b];
      return [...leb128(code.length), ...code];
    }),
  );
  return new Uint8Array(out);
}

function assembleBody(f: WasmFunction): number[] {
  const index = new Map([...f.params, ...Object.keys(f.locals)].map((n, i) => [n, i]));
  const tokens = f.body.replace(/;;.*$/gm, "").split(/\s+/).filter((t) => t !== "");
  const code: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const op = WASM_OPS[tokens[i]];
    if (!op) throw new TypeError(`Kernel ${f.name} has an unknown instruction: ${tokens[i]}`);
    code.push(...op[0]);
    const immediate = op[1];
    if (immediate === "block") code.push(0x40);
    else if (immediate === "u32") code.push(...leb128(Number(tokens[++i])));
    else if (immediate === "i32") code.push(...leb128(Number(tokens[++i]), true));
    else if (immediate === "local") {
      const local = index.get(tokens[++i].slice(1));
      if (local === undefined) throw new TypeError(`Kernel ${f.name} uses an undeclared local: ${tokens[i]}`);
      code.push(...leb128(local));
    } else if (immediate === "mem" || immediate === "memlane") {
      const offset = tokens[i + 1]?.startsWith("offset=") ? Number(tokens[++i].slice(7)) : 0;
      code.push(0x00, ...leb128(offset));
      if (immediate === "memlane") code.push(Number(tokens[++i]));
    }
  }
  return code;
}

function wasmVector(items: number[][]): number[] {
  return [...leb128(items.length), ...items.flat()];
}

function leb128(n: number, signed = false): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n = signed ? n >> 7 : n >>> 7;
    const done = signed ? (n === 0 && !(byte & 0x40)) || (n === -1 && (byte & 0x40) !== 0) : n === 0;
    if (done) return [...out, byte];
    out.push(byte | 0x80);
  }
}
