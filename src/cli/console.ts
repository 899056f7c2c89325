/**
 * `adp console`: the operator web application, a process of its own that talks to the service
 * only over NATS. Users come from `--users FILE` and/or `ADP_CONSOLE_USERS` (`name:role:hash`,
 * hashes from `adp console --hash-password`, which reads the password from stdin).
 *
 * @module
 */
import { ConsoleRequestError, hashPassword, loadUsers, startConsole } from "../console/mod.ts";
import { type Command, UsageError } from "./_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";

/** `adp console` */
export const consoleCommand: Command = {
  name: "console",
  summary: "the operator web console (stations, station, teach, review)",
  usage: `
adp console [--http 127.0.0.1:8080] [--users FILE] [--viewer-without-login] [--nats URL]
adp console --hash-password        (reads a password on stdin, prints its hash for a users file)

Serves the operator console at --http. Users: --users FILE and/or $ADP_CONSOLE_USERS, entries
name:role:hash (role viewer or operator), one a line or comma-separated.
  --http HOST:PORT          address to serve (default 127.0.0.1:8080)
  --users FILE              the users file
  --viewer-without-login    pages open read-only without a login (loopback addresses only)${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    http: { type: "string" },
    users: { type: "string" },
    "viewer-without-login": { type: "boolean" },
    "hash-password": { type: "boolean" },
  },
  async run(args) {
    if (args.values["hash-password"]) {
      const text = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
      const password = text.replace(/\r?\n$/, "");
      if (!password) throw new UsageError("--hash-password reads the password on stdin: got nothing");
      console.log(hashPassword(password));
      return;
    }
    const { hostname, port } = parseHttp((args.values.http as string | undefined) ?? "127.0.0.1:8080");
    const users = await loadUsers({
      file: args.values.users as string | undefined,
      env: Deno.env.get("ADP_CONSOLE_USERS"),
    });
    const open = Boolean(args.values["viewer-without-login"]);
    if (!users.size && !open) {
      throw new UsageError("No users: give --users FILE or ADP_CONSOLE_USERS, or --viewer-without-login");
    }
    const nc = await connectFromFlags(args, { name: "adp console", persistent: true });
    try {
      const server = await startConsole({ nc, users, hostname, port, viewerWithoutLogin: open }).catch(
        (e) => {
          throw e instanceof ConsoleRequestError ? new UsageError(e.message, { cause: e }) : e;
        },
      );
      console.error(
        `adp console: serving ${server.url} (${users.size} user(s)${open ? ", viewers without login" : ""})`,
      );
      await waitForSignal();
      await server.stop();
    } finally {
      await nc.close();
    }
  },
};

/** `HOST:PORT` (IPv6 in brackets) as its parts. */
function parseHttp(value: string): { hostname: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--http must be HOST:PORT: got ${value}`);
  return { hostname: m[1].replace(/^\[|\]$/g, ""), port };
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const done = () => {
      for (const s of signals) Deno.removeSignalListener(s, done);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, done);
  });
}
