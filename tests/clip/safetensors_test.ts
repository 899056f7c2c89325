import assert from "node:assert/strict";
import { join } from "node:path";
import { ErrorCode, ShapeError, WeightsError } from "../../src/errors.ts";
import { bf16ToF32, f16ToF32, f32ToBF16, f32ToF16 } from "../../src/clip/float16.ts";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { writeSafetensors } from "../../src/clip/safetensors_writer.ts";
import { needsShared, sharedPath } from "../_shared.ts";

/** Bits of a float32, for building hand-picked inputs exactly. */
function f32(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}

/** Hand-picked float32 → half cases, with the expected half bits. */
const F16_CASES: [string, number, number][] = [
  ["zero", 0, 0x0000],
  ["negative zero", -0, 0x8000],
  ["one", 1, 0x3c00],
  ["minus two", -2, 0xc000],
  ["largest half", 65504, 0x7bff],
  ["just below the overflow tie", 65519, 0x7bff],
  ["overflow tie rounds to infinity", 65520, 0x7c00],
  ["beyond range", 1e6, 0x7c00],
  ["infinity", Infinity, 0x7c00],
  ["minus infinity", -Infinity, 0xfc00],
  ["smallest normal", 2 ** -14, 0x0400],
  ["largest subnormal", 2 ** -14 - 2 ** -24, 0x03ff],
  ["smallest subnormal", 2 ** -24, 0x0001],
  ["negative subnormal", -(2 ** -24) * 5, 0x8005],
  ["half the smallest subnormal ties to zero", 2 ** -25, 0x0000],
  ["just above that tie", f32(0x33000001), 0x0001],
  ["subnormal tie rounds to even (up)", 3 * 2 ** -25, 0x0002],
  ["subnormal tie rounds to even (down)", 5 * 2 ** -25, 0x0002],
  ["subnormal carries into the smallest normal", 2 ** -14 - 2 ** -26, 0x0400],
  ["far below range", 1e-10, 0x0000],
  ["float32 subnormal", f32(0x00000001), 0x0000],
  ["normal tie rounds to even (down)", 1 + 2 ** -11, 0x3c00],
  ["normal tie rounds to even (up)", 1 + 3 * 2 ** -11, 0x3c02],
  ["just above a tie", 1 + 2 ** -11 + 2 ** -20, 0x3c01],
  ["carry into the exponent", 2 - 2 ** -12, 0x4000],
];

/** Hand-picked float32 → bfloat16 cases, with the expected bits. */
const BF16_CASES: [string, number, number][] = [
  ["zero", 0, 0x0000],
  ["negative zero", -0, 0x8000],
  ["one", 1, 0x3f80],
  ["tie rounds to even (down)", 1 + 2 ** -8, 0x3f80],
  ["tie rounds to even (up)", 1 + 3 * 2 ** -8, 0x3f82],
  ["just above a tie", 1 + 2 ** -8 + 2 ** -20, 0x3f81],
  ["largest float32 overflows", f32(0x7f7fffff), 0x7f80],
  ["infinity", Infinity, 0x7f80],
  ["minus infinity", -Infinity, 0xff80],
  ["bfloat16 subnormal", f32(0x00010000), 0x0001],
  ["float32 subnormal below range", f32(0x00000001), 0x0000],
  ["pi", Math.PI, 0x4049],
];

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "safetensors_test_" });
}

/** A file with a hand-written header (object or raw text) and data section. */
async function rawFile(
  dir: string,
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  headerLen?: bigint,
): Promise<string> {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  const path = join(dir, `${crypto.randomUUID()}.safetensors`);
  await Deno.writeFile(path, bytes);
  return path;
}

/** An error check that also asserts the message names the file and (when given) the tensor. */
function weightsError(file: string, tensor?: string, code: ErrorCode = ErrorCode.WEIGHTS_INVALID) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WeightsError, `expected a WeightsError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `message does not name the file: ${err.message}`);
    if (tensor !== undefined) {
      assert.equal(err.tensor, tensor);
      assert.ok(err.message.includes(`"${tensor}"`), `message does not name the tensor: ${err.message}`);
    }
    assert.match(err.message, /^[A-Z].*[^.]$/s);
    return true;
  };
}

Deno.test("f32ToF16() rounds hand-picked values to nearest even", () => {
  const bits = f32ToF16(new Float32Array(F16_CASES.map((c) => c[1])));
  F16_CASES.forEach(([what, , expected], i) => {
    assert.equal(bits[i], expected, `${what}: got 0x${bits[i].toString(16)}`);
  });
});

Deno.test("f32ToF16() keeps NaN a NaN when only low payload bits are set", () => {
  const bits = f32ToF16(new Float32Array([NaN, f32(0x7f800001), f32(0xff800001)]));
  for (const b of bits) {
    assert.equal(b & 0x7c00, 0x7c00);
    assert.notEqual(b & 0x03ff, 0);
  }
  assert.equal(bits[2] & 0x8000, 0x8000);
});

Deno.test("f16ToF32() decodes every half bit pattern exactly", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const out = f16ToF32(all);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    const v = out[h];
    if (exp === 0x1f) {
      if (mant === 0) assert.equal(v, sign * Infinity);
      else assert.ok(Number.isNaN(v), `0x${h.toString(16)} should be NaN`);
    } else {
      const expected = exp === 0 ? sign * mant * 2 ** -24 : sign * (1 + mant / 1024) * 2 ** (exp - 15);
      if (!Object.is(v, expected)) assert.fail(`0x${h.toString(16)}: got ${v}, expected ${expected}`);
    }
  }
});

Deno.test("f32ToF16() inverts f16ToF32() on every non-NaN half", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = f32ToF16(f16ToF32(all));
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
    if (back[h] !== h) assert.fail(`0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
  }
});

Deno.test("f32ToBF16() rounds hand-picked values to nearest even", () => {
  const bits = f32ToBF16(new Float32Array(BF16_CASES.map((c) => c[1])));
  BF16_CASES.forEach(([what, , expected], i) => {
    assert.equal(bits[i], expected, `${what}: got 0x${bits[i].toString(16)}`);
  });
  const nan = f32ToBF16(new Float32Array([NaN, f32(0x7f800001)]));
  for (const b of nan) assert.ok(Number.isNaN(bf16ToF32(new Uint16Array([b]))[0]));
});

Deno.test("writeSafetensors() round trips F32, F16 and BF16 with exact rounding", async () => {
  const dir = await tempDir();
  try {
    const f16Input = new Float32Array([...F16_CASES.map((c) => c[1]), NaN]);
    const bf16Input = new Float32Array([...BF16_CASES.map((c) => c[1]), NaN]);
    const f32Input = new Float32Array([
      0,
      -0,
      1.5,
      f32(0x00000001),
      f32(0x7f7fffff),
      Infinity,
      -Infinity,
      NaN,
    ]);
    const path = join(dir, "round_trip.safetensors");
    await writeSafetensors(path, [
      { name: "f32", shape: [2, 4], dtype: "F32", data: f32Input },
      { name: "f16", shape: [f16Input.length], dtype: "F16", data: f16Input },
      { name: "bf16", shape: [bf16Input.length], dtype: "BF16", data: () => bf16Input },
      { name: "empty", shape: [0, 3], dtype: "F16", data: new Float32Array(0) },
      { name: "scalar", shape: [], dtype: "F32", data: new Float32Array([4.5]) },
    ], { metadata: { format: "pt", note: "test" } });

    using st = await openSafetensors(path);
    assert.deepEqual(st.metadata, { format: "pt", note: "test" });
    assert.deepEqual([...st.header.keys()], ["f32", "f16", "bf16", "empty", "scalar"]);
    assert.equal(st.header.get("f16")!.dtype, "F16");
    assert.deepEqual(st.header.get("f32")!.shape, [2, 4]);

    const f32Out = await st.read("f32");
    assert.deepEqual(f32Out.shape, [2, 4]);
    f32Input.forEach((x, i) => assert.ok(Object.is(f32Out.data[i], x), `f32[${i}]`));

    const f16Out = (await st.read("f16")).data;
    F16_CASES.forEach(([what, , bits], i) => {
      const expected = f16ToF32(new Uint16Array([bits]))[0];
      assert.ok(Object.is(f16Out[i], expected), `${what}: got ${f16Out[i]}, expected ${expected}`);
    });
    assert.ok(Number.isNaN(f16Out[F16_CASES.length]));

    const bf16Out = (await st.read("bf16")).data;
    BF16_CASES.forEach(([what, , bits], i) => {
      assert.ok(Object.is(bf16Out[i], bf16ToF32(new Uint16Array([bits]))[0]), what);
    });
    assert.ok(Number.isNaN(bf16Out[BF16_CASES.length]));

    assert.equal((await st.read("empty")).data.length, 0);
    assert.deepEqual([...(await st.read("scalar")).data], [4.5]);

    // The bytes on disk are exactly the expected little-endian half bits.
    const entry = st.header.get("f16")!;
    const file = await Deno.readFile(path);
    assert.equal(
      (8 + Number(new DataView(file.buffer).getBigUint64(0, true))) % 8,
      0,
      "data is 8-byte aligned",
    );
    const onDisk = new DataView(file.buffer, entry.byteOffset, entry.byteLength);
    F16_CASES.forEach(([what, , bits], i) => assert.equal(onDisk.getUint16(2 * i, true), bits, what));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() serves concurrent reads and row reads correctly", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "rows.safetensors");
    const a = Float32Array.from({ length: 5 * 3 }, (_, i) => i);
    const b = Float32Array.from({ length: 7 }, (_, i) => -i);
    await writeSafetensors(path, [
      { name: "a", shape: [5, 3], dtype: "F16", data: a },
      { name: "b", shape: [7], dtype: "BF16", data: b },
    ]);
    using st = await openSafetensors(path);
    const [ra, rb, rows] = await Promise.all([st.read("a"), st.read("b"), st.readRows("a", [4, 0, 4])]);
    assert.deepEqual([...ra.data], [...a]);
    assert.deepEqual([...rb.data], [...b]);
    assert.deepEqual([...rows], [12, 13, 14, 0, 1, 2, 12, 13, 14]);
    await assert.rejects(st.readRows("a", [5]), ShapeError);
    await assert.rejects(st.read("nope"), weightsError(path, "nope", ErrorCode.WEIGHTS_MISSING));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() reads I32 and I64 tensors with readRaw() and refuses them in read()", async () => {
  const dir = await tempDir();
  try {
    const data = new Uint8Array(4 * 3 + 8 * 2);
    const view = new DataView(data.buffer);
    [7, -1, 49407].forEach((v, i) => view.setInt32(4 * i, v, true));
    [2n ** 40n, -3n].forEach((v, i) => view.setBigInt64(12 + 8 * i, v, true));
    const path = await rawFile(dir, {
      ids: { dtype: "I32", shape: [3], data_offsets: [0, 12] },
      big: { dtype: "I64", shape: [2, 1], data_offsets: [12, 28] },
    }, data);
    using st = await openSafetensors(path);
    const ids = await st.readRaw("ids");
    assert.ok(ids.data instanceof Int32Array);
    assert.deepEqual([...ids.data], [7, -1, 49407]);
    const big = await st.readRaw("big");
    assert.ok(big.data instanceof BigInt64Array);
    assert.deepEqual([...big.data], [2n ** 40n, -3n]);
    assert.deepEqual(big.shape, [2, 1]);
    await assert.rejects(st.read("ids"), weightsError(path, "ids"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "openSafetensors() reads the oracle reference file with I32 and F32 tensors",
  ...needsShared,
  fn: async () => {
    using st = await openSafetensors(sharedPath("fixtures/clip-oracle/tiny-gelu-hf/reference.safetensors"));
    const ids = await st.readRaw("input_ids");
    assert.equal(ids.dtype, "I32");
    assert.deepEqual(ids.shape, [3, 77]);
    assert.equal((ids.data as Int32Array)[0], 49406);
    const pixels = await st.read("pixel_values");
    assert.deepEqual(pixels.shape, [3, 3, 96, 96]);
    assert.ok(pixels.data.every(Number.isFinite));
  },
});

Deno.test("openSafetensors() rejects a truncated file naming the file and the cut tensor", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "cut.safetensors");
    await writeSafetensors(path, [
      { name: "first", shape: [4], dtype: "F32", data: new Float32Array(4) },
      { name: "last", shape: [4], dtype: "F32", data: new Float32Array(4) },
    ]);
    await Deno.truncate(path, (await Deno.stat(path)).size - 3);
    await assert.rejects(openSafetensors(path), weightsError(path, "last"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() rejects a header length beyond the file or absurdly large", async () => {
  const dir = await tempDir();
  try {
    const header = { x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } };
    const beyond = await rawFile(dir, header, new Uint8Array(4), 10_000n);
    await assert.rejects(openSafetensors(beyond), weightsError(beyond));
    const huge = await rawFile(dir, header, new Uint8Array(4), 2n ** 63n);
    await assert.rejects(openSafetensors(huge), weightsError(huge));
    const tiny = join(dir, "tiny.safetensors");
    await Deno.writeFile(tiny, new Uint8Array(5));
    await assert.rejects(openSafetensors(tiny), weightsError(tiny));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() rejects overlapping tensors naming one of them", async () => {
  const dir = await tempDir();
  try {
    const path = await rawFile(dir, {
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    }, new Uint8Array(12));
    await assert.rejects(openSafetensors(path), (err: unknown) => {
      weightsError(path)(err);
      assert.ok(
        (err as WeightsError).message.includes('"a"') && (err as WeightsError).message.includes('"b"'),
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() rejects an unknown dtype naming the tensor", async () => {
  const dir = await tempDir();
  try {
    const path = await rawFile(
      dir,
      { w: { dtype: "F17", shape: [1], data_offsets: [0, 4] } },
      new Uint8Array(4),
    );
    await assert.rejects(openSafetensors(path), weightsError(path, "w"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() rejects a byte range that disagrees with the shape", async () => {
  const dir = await tempDir();
  try {
    const path = await rawFile(
      dir,
      { w: { dtype: "F16", shape: [3], data_offsets: [0, 8] } },
      new Uint8Array(8),
    );
    await assert.rejects(openSafetensors(path), weightsError(path, "w"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSafetensors() rejects malformed headers and entries", async () => {
  const dir = await tempDir();
  try {
    const cases: [unknown, string | undefined][] = [
      ["not json", undefined],
      ["[1, 2]", undefined],
      [{ __metadata__: { n: 1 } }, undefined],
      [{ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, "w"],
      [{ w: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }, "w"],
      [{ w: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, "w"],
      [{ w: { dtype: "F32", shape: [1] } }, "w"],
      [{ w: "F32" }, "w"],
    ];
    for (const [header, tensor] of cases) {
      const path = await rawFile(dir, header, new Uint8Array(4));
      await assert.rejects(openSafetensors(path), weightsError(path, tensor), JSON.stringify(header));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeSafetensors() rejects a length mismatch and leaves no file behind", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "bad.safetensors");
    await assert.rejects(
      writeSafetensors(path, [
        { name: "ok", shape: [2], dtype: "F16", data: new Float32Array(2) },
        { name: "short", shape: [2, 2], dtype: "F16", data: () => new Float32Array(3) },
      ]),
      weightsError(path, "short"),
    );
    await assert.rejects(
      writeSafetensors(path, [
        { name: "twice", shape: [1], dtype: "F32", data: new Float32Array(1) },
        { name: "twice", shape: [1], dtype: "F32", data: new Float32Array(1) },
      ]),
      weightsError(path, "twice"),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeSafetensors() streams a tensor larger than one conversion chunk", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, "big.safetensors");
    const n = (1 << 20) * 2 + 17;
    const data = Float32Array.from({ length: n }, (_, i) => (i % 2048) - 1024);
    await writeSafetensors(path, [{ name: "big", shape: [n], dtype: "BF16", data }]);
    using st = await openSafetensors(path);
    const back = (await st.read("big")).data;
    assert.equal(back.length, n);
    const expected = bf16ToF32(f32ToBF16(data));
    for (let i = 0; i < n; i++) {
      if (back[i] !== expected[i]) assert.fail(`big[${i}]: ${back[i]} != ${expected[i]}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
