/**
 * Credentials from the environment and from files, never from the command line, against real
 * nats-servers: `adp camera` publishes with `NATS_TOKEN`, with `NATS_NKEY` (a seed file), with a
 * JWT credentials file (`--creds` and `NATS_CREDS`; the server in operator mode with a memory
 * resolver), with a `nats` context; a wrong secret is refused with exit code 10. The precedence
 * (flag, environment, context) is checked without a server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { nkeys } from "@nats-io/transport-node";
import { type Command, parseCommandArgs } from "../../src/cli/_command.ts";
import { natsOptionsFromFlags } from "../../src/cli/_nats.ts";
import { camera } from "../../src/cli/camera.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { spawnAdp } from "./_serve.ts";

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A JWT as nats-server reads it: header, claims, ed25519 signature by `signer` (an nkey). */
function jwt(signer: nkeys.KeyPair, sub: string, nats: Record<string, unknown>): string {
  const enc = new TextEncoder();
  const header = b64url(enc.encode(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })));
  const claims = {
    jti: crypto.randomUUID().replaceAll("-", "").toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
  };
  const body = b64url(
    enc.encode(
      JSON.stringify({
        ...claims,
        iss: signer.getPublicKey(),
        sub,
        name: sub,
        nats: { ...nats, version: 2 },
      }),
    ),
  );
  return `${header}.${body}.${b64url(signer.sign(enc.encode(`${header}.${body}`)))}`;
}

/** Runs `adp camera` for one frame of line-1 with `env` and extra flags; returns exit code and stderr. */
async function publishWith(env: Record<string, string>, flags: string[] = []): Promise<[number, string]> {
  const dir = await Deno.makeTempDir({ prefix: "adp-creds-frames-" });
  try {
    await Deno.copyFile(sharedPath("datasets/mvtec-ad/bottle/train/good/000.png"), join(dir, "000.png"));
    const child = spawnAdp(["camera", "--station", "line-1", "--dir", dir, "--count", "1", ...flags], env);
    const code = await child.exited;
    return [code, child.stderr.join("\n")];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "credentials - NATS_TOKEN, NATS_NKEY and a nats context from the environment; wrong ones exit 10",
  ...needsShared,
  async fn() {
    const user = nkeys.createUser();
    const ns = await setup({
      jetstream: false,
      config: `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }`,
    });
    const tokenServer = await setup({ jetstream: false, config: `authorization { token: "t0ken-s3cret" }` });
    const dir = await Deno.makeTempDir({ prefix: "adp-creds-" });
    try {
      const seedFile = join(dir, "user.nk");
      await Deno.writeTextFile(seedFile, new TextDecoder().decode(user.getSeed()));
      assert.equal((await publishWith({ NATS_URL: ns.url, NATS_NKEY: seedFile }))[0], 0);
      assert.equal((await publishWith({ NATS_URL: ns.url }, ["--nkey-seed", seedFile]))[0], 0);
      const other = join(dir, "other.nk");
      await Deno.writeTextFile(other, new TextDecoder().decode(nkeys.createUser().getSeed()));
      const [code, err] = await publishWith({ NATS_URL: ns.url, NATS_NKEY: other });
      assert.equal(code, 10, err);
      assert.match(err, /Authorization Violation/i);

      assert.equal((await publishWith({ NATS_URL: tokenServer.url, NATS_TOKEN: "t0ken-s3cret" }))[0], 0);
      assert.equal((await publishWith({ NATS_URL: tokenServer.url, NATS_TOKEN: "wrong" }))[0], 10);

      // A nats CLI context names the server and the seed file.
      await Deno.mkdir(join(dir, "nats", "context"), { recursive: true });
      await Deno.writeTextFile(
        join(dir, "nats", "context", "edge.json"),
        JSON.stringify({ url: ns.url, nkey: seedFile }),
      );
      assert.equal((await publishWith({ XDG_CONFIG_HOME: dir, NATS_CONTEXT: "edge" }))[0], 0);
    } finally {
      await cleanup(ns);
      await cleanup(tokenServer);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "credentials - a JWT credentials file (--creds, NATS_CREDS) against a server in operator mode",
  ...needsShared,
  async fn() {
    const operator = nkeys.createOperator();
    const account = nkeys.createAccount();
    const user = nkeys.createUser();
    const operatorJwt = jwt(operator, operator.getPublicKey(), { type: "operator" });
    const accountJwt = jwt(operator, account.getPublicKey(), {
      type: "account",
      limits: {
        subs: -1,
        conn: -1,
        leaf: -1,
        imports: -1,
        exports: -1,
        data: -1,
        payload: -1,
        wildcards: true,
      },
    });
    const userJwt = jwt(account, user.getPublicKey(), {
      type: "user",
      pub: {},
      sub: {},
      subs: -1,
      data: -1,
      payload: -1,
    });
    const ns = await setup({
      jetstream: false,
      config:
        `operator: ${operatorJwt}\nresolver: MEMORY\nresolver_preload: { ${account.getPublicKey()}: ${accountJwt} }`,
    });
    const dir = await Deno.makeTempDir({ prefix: "adp-creds-" });
    try {
      const creds = join(dir, "user.creds");
      await Deno.writeTextFile(
        creds,
        `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
          `-----BEGIN USER NKEY SEED-----\n${
            new TextDecoder().decode(user.getSeed())
          }\n------END USER NKEY SEED------\n`,
      );
      const [code, err] = await publishWith({ NATS_URL: ns.url, NATS_CREDS: creds });
      assert.equal(code, 0, err);
      assert.equal((await publishWith({ NATS_URL: ns.url }, ["--creds", creds]))[0], 0);
      assert.equal((await publishWith({ NATS_URL: ns.url }))[0], 10);
    } finally {
      await cleanup(ns);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("credentials - flags beat the environment, which beats a context; one source gives all credentials", async () => {
  const args = (argv: string[]) =>
    parseCommandArgs(camera as Command, ["--dir", ".", "--station", "s", ...argv])!;
  const env: Record<string, string> = { NATS_URL: "nats://env:4222", NATS_USER: "u", NATS_PASSWORD: "p" };
  const warnings: string[] = [];
  const fromEnv = await natsOptionsFromFlags(args([]), (n) => env[n], (l) => warnings.push(l));
  assert.deepEqual(fromEnv, { servers: "nats://env:4222", user: "u", password: "p" });
  const fromFlags = await natsOptionsFromFlags(
    args(["--nkey-seed", "/x.nk", "--nats", "nats://f:1"]),
    (n) => env[n],
  );
  assert.deepEqual(fromFlags, { servers: "nats://f:1", nkeySeedFile: "/x.nk" });
  // --user takes the password from the environment.
  assert.deepEqual(await natsOptionsFromFlags(args(["--user", "v"]), (n) => env[n]), {
    servers: "nats://env:4222",
    user: "v",
    password: "p",
  });
  await natsOptionsFromFlags(
    args(["--password", "visible", "--user", "x"]),
    () => undefined,
    (l) => warnings.push(l),
  );
  assert.match(warnings.join("\n"), /--password is visible to every local user/);
});
