/**
 * retainFreedMemory(): glibc's allocator keeps what the process frees. Checked through glibc itself
 * in a fresh process (tests/_allocator_probe.ts: malloc, free and mallinfo2 over FFI, on the main
 * thread with nothing else allocating): with the call, a 24 MiB block comes from the heap and stays
 * with the process once freed; without it (the control), glibc maps it and unmaps it on free.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const MiB = 2 ** 20;
const PROBE = fileURLToPath(new URL("./_allocator_probe.ts", import.meta.url));

async function probe(
  retain: boolean,
): Promise<{ retained: boolean; mappedOnItsOwn: number; keptAfterFree: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read", PROBE, ...(retain ? ["--retain"] : [])],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "the probe failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: "retainFreedMemory() keeps a freed 24 MiB block in the heap, where glibc's defaults unmap it (Linux)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const kept = await probe(true);
    assert.equal(kept.retained, true);
    assert.ok(kept.mappedOnItsOwn < MiB, `mapped on its own: ${kept.mappedOnItsOwn} bytes`);
    assert.ok(kept.keptAfterFree > 23 * MiB, `kept after free: ${kept.keptAfterFree} bytes`);

    const control = await probe(false);
    assert.ok(control.mappedOnItsOwn >= 24 * MiB, "without the call glibc maps the block on its own");
    assert.ok(control.keptAfterFree < MiB, "without the call the freed block goes back to the kernel");
  },
});
