/**
 * The command line's contract with scripts: every command `adp --help` lists answers `--help` with
 * its usage and exit code 0, and a failure is one line on stderr with the exit code the README's
 * table gives its kind (usage 2, OS error 1, unreachable bus 10, invalid profile 9).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli as run } from "../_cli.ts";
import { tempDir } from "../_temp_dir.ts";

/** The command names of `adp --help`, in its order. */
async function listedCommands(): Promise<string[]> {
  const overview = await run(["--help"]);
  assert.equal(overview.code, 0, overview.err);
  return overview.out.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s{2,}/)[0]);
}

Deno.test("every command and sub-command adp --help lists answers --help (and -h) with its usage line", async () => {
  const names = await listedCommands();
  for (
    const expected of ["serve", "camera", "score", "threshold set", "profiles list", "roi set", "roi get"]
  ) {
    assert.ok(names.includes(expected), `${expected} is listed`);
  }
  for (const name of names) {
    for (const flag of ["--help", "-h"]) {
      const help = await run([...name.split(" "), flag]);
      assert.equal(help.code, 0, `adp ${name} ${flag}: ${help.err}`);
      assert.equal(help.err, "", `adp ${name} ${flag} writes nothing to stderr`);
      assert.ok(
        help.out.startsWith(`adp ${name}`),
        `adp ${name} ${flag} starts with its usage: ${help.out.slice(0, 80)}`,
      );
    }
  }
  // A group alone lists its sub-commands: with --help that is an answer (0), bare it is a usage mistake (2).
  for (const group of new Set(names.filter((n) => n.includes(" ")).map((n) => n.split(" ")[0]))) {
    const listed = await run([group, "--help"]);
    assert.equal(listed.code, 0, group);
    assert.match(listed.out, new RegExp(`^adp ${group} `));
  }
  assert.equal((await run(["roi"])).code, 2);
});

Deno.test("errors are one line with the documented exit code: usage, OS error, invalid profile, unreachable bus", async () => {
  await using dir = await tempDir();
  const oneLine = (r: { err: string }) => assert.equal(r.err.split("\n").length, 1, r.err);

  const unknownFlag = await run(["threshold", "set", "--bogus"]);
  assert.equal(unknownFlag.code, 2);
  assert.match(
    unknownFlag.err,
    /^adp threshold set: Unknown option '--bogus'.*\(see adp threshold set --help\)$/,
  );
  oneLine(unknownFlag);

  const unknownCommand = await run(["frobnicate"]);
  assert.equal(unknownCommand.code, 2);
  assert.equal(unknownCommand.err, `adp: unknown command "frobnicate" (adp --help lists them)`);

  const missing = join(dir.path, "absent.safetensors");
  const missingFile = await run(["roi", "get", "--profile", missing]);
  assert.equal(missingFile.code, 1, "an OS error");
  assert.match(missingFile.err, /^adp roi get: No such file or directory.*absent\.safetensors/);
  oneLine(missingFile);

  const junk = join(dir.path, "junk.safetensors");
  await Deno.writeFile(junk, new Uint8Array(64));
  const badProfile = await run(["roi", "set", "--profile", junk, "--ignore", "0,0 9,0 9,9"]);
  assert.equal(badProfile.code, 9, badProfile.err);
  assert.match(badProfile.err, /^adp roi set: Profile .*junk\.safetensors is not a readable profile file/);
  oneLine(badProfile);

  // A port that was free a moment ago: nothing listens there.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const unreachable = await run(["roi", "get", "--nats", `nats://127.0.0.1:${port}`, "--station", "line-1"]);
  assert.equal(unreachable.code, 10, unreachable.err);
  assert.match(
    unreachable.err,
    new RegExp(`^adp roi get: Cannot connect to NATS at nats://127.0.0.1:${port}`),
  );
  oneLine(unreachable);
});
