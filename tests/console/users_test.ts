import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { hashPassword, loadUsers, parseUsers, verifyPassword } from "../../src/console/mod.ts";

Deno.test("hashPassword() salts each hash and verifyPassword() accepts only the password", () => {
  const a = hashPassword("line side"), b = hashPassword("line side");
  assert.notEqual(a, b);
  assert.ok(verifyPassword("line side", a) && verifyPassword("line side", b));
  assert.equal(verifyPassword("line-side", a), false);
  assert.equal(verifyPassword("line side", "plain-text"), false);
  assert.equal(verifyPassword("x", "scrypt$99999999$AAAA$AAAA"), false);
});

Deno.test("parseUsers() reads name:role:hash entries and refuses a bad role or a missing hash", () => {
  const hash = hashPassword("p");
  const users = parseUsers(`# operators\nada:operator:${hash}\n, vic:viewer:${hash}`, "users.txt");
  assert.deepEqual([...users.keys()], ["ada", "vic"]);
  assert.equal(users.get("vic")!.role, "viewer");
  assert.throws(() => parseUsers(`ada:admin:${hash}`, "users.txt"), ConfigError);
  assert.throws(() => parseUsers("ada:operator:secret", "users.txt"), /no scrypt hash/);
});

Deno.test("loadUsers() merges the file over ADP_CONSOLE_USERS", async () => {
  const file = await Deno.makeTempFile();
  try {
    const hash = hashPassword("p");
    await Deno.writeTextFile(file, `ada:viewer:${hash}\n`);
    const users = await loadUsers({ file, env: `ada:operator:${hash},bob:operator:${hash}` });
    assert.equal(users.get("ada")!.role, "viewer");
    assert.equal(users.get("bob")!.role, "operator");
  } finally {
    await Deno.remove(file);
  }
});
