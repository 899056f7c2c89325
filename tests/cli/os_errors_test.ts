/**
 * OS errors end a command with exit code 1 and the OS's one-line message, never a stack trace (the
 * README's exit-code table): a missing folder (ENOENT), a file where a folder was meant (ENOTDIR).
 */
import { ok, strictEqual } from "node:assert/strict";
import { runCli } from "../_cli.ts";

Deno.test("adp: OS errors exit 1 with the OS's message and no stack trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "adp-os-errors-" });
  try {
    const file = `${dir}/a-file`;
    await Deno.writeTextFile(file, "");
    for (const [folder, words] of [[`${dir}/missing`, "(os error 2)"], [file, "(os error 20)"]]) {
      // The folder is read before any connection is tried: the unreachable server is never reached.
      const run = await runCli(["camera", "--dir", folder, "--station", "a", "--nats", "nats://127.0.0.1:1"]);
      strictEqual(run.code, 1, run.err);
      ok(run.err.startsWith("adp camera: ") && run.err.includes(words), run.err);
      ok(!run.err.includes("unexpected failure") && !run.err.includes("    at "), run.err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
