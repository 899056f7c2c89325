/**
 * The service started exactly as deploy/adp-edge.service and deploy/Containerfile start it: the
 * command, working directory and environment are read from those files, and the process runs as an
 * unprivileged user (nobody) on the root-owned checkout, with a read-only, empty DENO_DIR, state and
 * cache directories it owns, credentials from the environment file, settings from
 * deploy/adp-serve.example.json. Against deploy/nats-server.conf, it must become ready, score a
 * camera's frame for the PLC, and stop cleanly on SIGTERM. Only host paths that do not exist here
 * are replaced: /opt/adp-edge (the checkout), /var/lib/adp-edge and /var/cache/adp-edge
 * (`ADP_STATE_DIR`, `ADP_CACHE_DIR`), /etc/adp-edge/adp-serve.json (the example it is copied from),
 * /etc/adp-edge/ca.pem (`NATS_CA`, the test server's CA) and the metrics port (`ADP_HTTP`, a free one).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { needsShared } from "../_shared.ts";
import { framesSubject, resultsSubject } from "../../src/stream/mod.ts";
import { bottle, reliabilityModel, stateDirWith } from "../reliability/_fixture.ts";
import { collect, parseEnvFile, startDeployServer, until } from "./_deploy_server.ts";
import { freePort, get, waitFor } from "./_serve.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const deploy = (name: string) => join(ROOT, "deploy", name);
const canDropPrivileges = Deno.uid() === 0 &&
  (() => {
    try {
      return Deno.statSync("/usr/bin/setpriv").isFile;
    } catch {
      return false;
    }
  })();

/** How a deploy file starts the service. */
interface Launch {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

function fromUnit(text: string): Launch {
  const key = (k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, "gm"))].map((m) => m[1]);
  const env: Record<string, string> = {};
  for (const e of key("Environment")) {
    const [k, ...v] = e.split("=");
    env[k] = v.join("=");
  }
  assert.deepEqual(key("EnvironmentFile"), ["/etc/adp-edge/adp-edge.env"]);
  assert.deepEqual(key("User"), ["adp"]);
  assert.deepEqual(key("StateDirectory"), ["adp-edge"]);
  assert.deepEqual(key("CacheDirectory"), ["adp-edge"]);
  const exec = key("ExecStart");
  assert.equal(exec.length, 1);
  assert.doesNotMatch(exec[0], /password|token|\$\{?NATS/i, "no credentials on the command line");
  return { argv: exec[0].split(/\s+/), cwd: key("WorkingDirectory")[0], env };
}

function fromContainerfile(text: string): Launch {
  const joined = text.replace(/\\\n/g, " ");
  const env: Record<string, string> = {};
  for (const m of joined.matchAll(/^ENV (.*)$/gm)) {
    for (const kv of m[1].trim().split(/\s+/)) {
      const [k, ...v] = kv.split("=");
      env[k] = v.join("=");
    }
  }
  const json = (k: string) => JSON.parse(new RegExp(`^${k} (\\[.*\\])$`, "m").exec(joined)![1]) as string[];
  assert.match(joined, /^USER adp$/m);
  // The state and cache dirs exist and belong to adp before USER adp.
  const user = joined.indexOf("USER adp");
  assert.ok(
    joined.slice(0, user).includes("install -d -o adp -g adp -m 0750 /var/lib/adp-edge /var/cache/adp-edge"),
  );
  const argv = [...json("ENTRYPOINT"), ...json("CMD")];
  assert.doesNotMatch(argv.join(" "), /password|token/i, "no credentials on the command line");
  return { argv, cwd: /^WORKDIR (.*)$/m.exec(joined)![1], env };
}

async function chownR(path: string, uid: number, gid: number): Promise<void> {
  await Deno.chown(path, uid, gid);
  if ((await Deno.stat(path)).isDirectory) {
    for await (const e of Deno.readDir(path)) await chownR(join(path, e.name), uid, gid);
  }
}

/** Runs `launch` as nobody with paths replaced; proves it ready, scoring and stopping cleanly. */
async function runDeployed(
  launch: Launch,
  extraEnv: (passwords: Record<string, string>) => Record<string, string>,
) {
  await using server = await startDeployServer();
  await using model = await reliabilityModel();
  const stateDir = await stateDirWith(model.clip, ["line-1"]);
  const work = await Deno.makeTempDir({ prefix: "adp-startup-" });
  const denoDir = join(work, "deno");
  const cacheDir = join(work, "cache");
  await Deno.mkdir(denoDir, { mode: 0o555 });
  await Deno.mkdir(cacheDir);
  await Deno.chmod(work, 0o755);
  // The server's CA, copied where the nobody user can read it (the server's folder is root's alone).
  const ca = join(work, "ca.pem");
  await Deno.copyFile(server.ca, ca);
  await Deno.chmod(ca, 0o644);
  await chownR(stateDir, 65534, 65534);
  await chownR(cacheDir, 65534, 65534);
  // The model is read-only for the service, as /opt/adp-edge/models is.
  await new Deno.Command("chmod", { args: ["-R", "a+rX", model.root] }).output();
  await Deno.chmod(model.root, 0o755);
  const httpPort = freePort();
  const env: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: "/nonexistent",
    ...launch.env,
    ...extraEnv(server.passwords as unknown as Record<string, string>),
    NATS_URL: server.url,
    NATS_CA: ca,
    ADP_MODEL: model.dir,
    DENO_DIR: denoDir,
    ADP_CACHE_DIR: cacheDir,
    ADP_STATE_DIR: stateDir,
    ADP_HTTP: `127.0.0.1:${httpPort}`,
  };
  const argv = launch.argv.map((a) =>
    a === "deno" || a === "/usr/bin/deno"
      ? Deno.execPath()
      : a === "/etc/adp-edge/adp-serve.json"
      ? deploy("adp-serve.example.json")
      : a
  );
  const cwd = launch.cwd === "/opt/adp-edge" ? ROOT : launch.cwd;
  const child = new Deno.Command("setpriv", {
    args: ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", ...argv],
    env,
    clearEnv: true,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr.push(...chunk.split("\n"));
    }
  })().catch(() => {});
  let exited = false;
  const status = child.status.finally(() => exited = true);
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`the service exited:\n${stderr.join("\n")}`);
      return (await get(`http://127.0.0.1:${httpPort}/readyz`)).status === 200;
    }, "/readyz");
    const plc = await server.as("plc");
    const results = collect(plc, resultsSubject("line-1"));
    await plc.flush();
    const camera = await server.as("camera-line-1");
    camera.publish(framesSubject("line-1"), await bottle(7));
    await camera.flush();
    await until(() => results.length >= 1, "a result at the PLC", 30_000);
    assert.equal(typeof results[0].json<{ score: number }>().score, "number", results[0].string());
    child.kill("SIGTERM");
    assert.equal((await status).code, 0, stderr.join("\n"));
    await reading;
    // JSON lines, as the example config asks; nothing about a permission problem.
    assert.ok(!stderr.some((l) => /denied|violation/i.test(l)), stderr.join("\n"));
    assert.ok(stderr.filter((l) => l.startsWith("{")).length >= 2, stderr.join("\n"));
  } finally {
    if (!exited) child.kill("SIGKILL");
    await status;
    await Deno.remove(stateDir, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
}

Deno.test({
  name: "deploy - adp-edge.service's command and environment, as nobody on a read-only checkout",
  ignore: needsShared.ignore || !canDropPrivileges,
  async fn() {
    const launch = fromUnit(await Deno.readTextFile(deploy("adp-edge.service")));
    const envFile = parseEnvFile(await Deno.readTextFile(deploy("adp-edge.env.example")));
    assert.equal(envFile.NATS_USER, "adp");
    await runDeployed(launch, (p) => ({ ...envFile, NATS_PASSWORD: p.ADP_SERVICE_PASSWORD }));
  },
});

Deno.test({
  name: "deploy - Containerfile's entrypoint, command and environment, as nobody on a read-only checkout",
  ignore: needsShared.ignore || !canDropPrivileges,
  async fn() {
    const launch = fromContainerfile(await Deno.readTextFile(deploy("Containerfile")));
    const envFile = parseEnvFile(await Deno.readTextFile(deploy("adp-edge.env.example")));
    await runDeployed(launch, (p) => ({ ...envFile, NATS_PASSWORD: p.ADP_SERVICE_PASSWORD }));
  },
});
