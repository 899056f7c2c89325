/**
 * The NATS flags every bus command shares (server and credentials) and the connection they make.
 * Secrets come from files or the environment; `--password` and `--token` still work but warn, since
 * a command line is readable by every local user in `/proc/<pid>/cmdline`.
 *
 * Where each setting comes from, first found wins: a flag, the environment (`NATS_URL`,
 * `NATS_CREDS`, `NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`, `NATS_NKEY`, `NATS_CA`/`NATS_CERT`/
 * `NATS_KEY`), then a `nats` CLI context (`--context NAME` or `NATS_CONTEXT`). Credentials are
 * taken from one place only: flags naming any credential replace the environment's, and so on.
 *
 * @module
 */
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError } from "../errors.ts";
import { connectNats, type NatsConnectOptions, natsOptionsFromEnv } from "../stream/mod.ts";
import type { FlagSpec, ParsedArgs } from "./_command.ts";

/** `--nats` and the authentication flags. */
export const NATS_FLAGS: FlagSpec = {
  nats: { type: "string" },
  context: { type: "string" },
  creds: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  "nkey-seed": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "inbox-prefix": { type: "string" },
};

/** Help text of {@linkcode NATS_FLAGS}. */
export const NATS_USAGE = `
  --nats URL         NATS server(s), comma-separated (default $NATS_URL, else nats://127.0.0.1:4222)
  --creds FILE       NATS credentials file (user JWT and seed; or $NATS_CREDS)
  --user U           with the password in $NATS_PASSWORD (or $NATS_USER too)
  --nkey-seed FILE   nkey seed file (or $NATS_NKEY); $NATS_TOKEN for a token
  --context NAME     a nats CLI context (~/.config/nats/context/NAME.json; or $NATS_CONTEXT)
  --tls-ca FILE [--tls-cert FILE --tls-key FILE]   TLS (server CA; client certificate)
  --inbox-prefix P   reply subjects under P (_INBOX_<role>), as the server's permissions expect
  (--password P and --token T work but show the secret to every local user: use the variables)`;

/** Fields that are credentials: one source gives them all. */
const AUTH_KEYS = ["credsFile", "user", "password", "token", "nkeySeedFile"] as const;

/**
 * The connection options from flags, environment and context, first found wins.
 *
 * @param args the parsed flags
 * @param env reads a variable
 * @param warn where the warning about a secret on the command line goes
 * @returns the options (without name and persistence)
 */
export async function natsOptionsFromFlags(
  args: ParsedArgs,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  warn: (line: string) => void = (line) => console.error(line),
): Promise<NatsConnectOptions> {
  const v = (flag: string) => args.values[flag] as string | undefined;
  for (const flag of ["password", "token"]) {
    if (v(flag) !== undefined) {
      warn(
        `warning: --${flag} is visible to every local user (ps, /proc): set NATS_${flag.toUpperCase()} instead`,
      );
    }
  }
  const flags = prune({
    servers: v("nats"),
    credsFile: v("creds"),
    user: v("user"),
    password: v("password"),
    token: v("token"),
    nkeySeedFile: v("nkey-seed"),
    tlsCa: v("tls-ca"),
    tlsCert: v("tls-cert"),
    tlsKey: v("tls-key"),
    inboxPrefix: v("inbox-prefix"),
  });
  const fromEnv = natsOptionsFromEnv(env);
  // --user alone takes its password from the environment.
  if (flags.user !== undefined && flags.password === undefined && fromEnv.password !== undefined) {
    flags.password = fromEnv.password;
  }
  const contextName = v("context") ?? env("NATS_CONTEXT");
  const context = contextName ? await readContext(contextName, env) : {};
  const sources = [flags, fromEnv, context];
  const out: NatsConnectOptions = {};
  const auth = sources.find((s) => AUTH_KEYS.some((k) => s[k] !== undefined));
  for (const k of AUTH_KEYS) if (auth?.[k] !== undefined) (out as Record<string, unknown>)[k] = auth[k];
  for (const k of ["servers", "tlsCa", "tlsCert", "tlsKey", "inboxPrefix"] as const) {
    const found = sources.find((s) => s[k] !== undefined);
    if (found) out[k] = found[k];
  }
  return out;
}

/** Connects with the flags' (or the environment's) server and credentials. */
export async function connectFromFlags(
  args: ParsedArgs,
  opts: { name: string; persistent?: boolean },
): Promise<NatsConnection> {
  return await connectNats({ ...(await natsOptionsFromFlags(args)), ...opts });
}

/** A `nats` CLI context file's settings. */
async function readContext(
  name: string,
  env: (name: string) => string | undefined,
): Promise<NatsConnectOptions> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith(".")) {
    throw new ConfigError(`NATS context name ${JSON.stringify(name)} is not a file name`);
  }
  const base = env("XDG_CONFIG_HOME") || join(env("HOME") ?? ".", ".config");
  const file = join(base, "nats", "context", `${name}.json`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    throw new ConfigError(`Cannot read NATS context ${name} (${file}): ${(error as Error).message}`, {
      cause: error,
    });
  }
  const s = (key: string) => typeof raw[key] === "string" && raw[key] !== "" ? raw[key] as string : undefined;
  return prune({
    servers: s("url"),
    credsFile: s("creds"),
    user: s("user"),
    password: s("password"),
    token: s("token"),
    nkeySeedFile: s("nkey"),
    tlsCa: s("ca"),
    tlsCert: s("cert"),
    tlsKey: s("key"),
    inboxPrefix: s("inbox_prefix"),
  });
}

function prune(o: NatsConnectOptions): NatsConnectOptions {
  for (const key of Object.keys(o) as (keyof NatsConnectOptions)[]) if (o[key] === undefined) delete o[key];
  return o;
}
