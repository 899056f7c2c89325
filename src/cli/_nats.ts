/**
 * The NATS flags every bus command shares (server and credentials) and the connection they make.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../stream/mod.ts";
import type { FlagSpec, ParsedArgs } from "./_command.ts";

/** `--nats` and the authentication flags. */
export const NATS_FLAGS: FlagSpec = {
  nats: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  "nkey-seed": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
};

/** Help text of {@linkcode NATS_FLAGS}. */
export const NATS_USAGE = `
  --nats URL         NATS server(s), comma-separated (default nats://127.0.0.1:4222, or $NATS_URL)
  --user U --password P | --token T | --nkey-seed FILE     authentication
  --tls-ca FILE [--tls-cert FILE --tls-key FILE]           TLS (server CA; client certificate)`;

/** Connects with the flags' server and credentials. */
export async function connectFromFlags(
  args: ParsedArgs,
  opts: { name: string; persistent?: boolean },
): Promise<NatsConnection> {
  const v = (flag: string) => args.values[flag] as string | undefined;
  return await connectNats({
    servers: v("nats") ?? Deno.env.get("NATS_URL"),
    name: opts.name,
    persistent: opts.persistent,
    user: v("user"),
    password: v("password"),
    token: v("token"),
    nkeySeedFile: v("nkey-seed"),
    tlsCa: v("tls-ca"),
    tlsCert: v("tls-cert"),
    tlsKey: v("tls-key"),
  });
}
