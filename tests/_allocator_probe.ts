/**
 * Run as a process of its own by allocator_test.ts (`--retain` calls retainFreedMemory first): one
 * 24 MiB block malloc'd and freed through glibc, and what glibc's mallinfo2 says of it, as JSON.
 *
 * @module
 */
import { retainFreedMemory } from "../src/allocator.ts";

const retained = Deno.args.includes("--retain") ? retainFreedMemory() : false;
const libc = Deno.dlopen("libc.so.6", {
  malloc: { parameters: ["usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
  // struct mallinfo2: ten size_t fields; hblkhd (4) is mapped bytes, fordblks (8) free heap bytes.
  mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
});
const info = () => {
  const f = new BigUint64Array(libc.symbols.mallinfo2().buffer);
  return { mapped: Number(f[4]), free: Number(f[8]) };
};
const before = info();
const block = libc.symbols.malloc(BigInt(24 * 2 ** 20));
const held = info();
libc.symbols.free(block);
const after = info();
console.log(JSON.stringify({
  retained,
  mappedOnItsOwn: held.mapped - before.mapped,
  keptAfterFree: after.free - held.free,
}));
