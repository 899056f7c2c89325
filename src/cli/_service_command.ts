/**
 * What the commands that call one service endpoint share: connect with the bus flags, request,
 * print JSON or a line, close.
 *
 * @module
 */
import { type BusConnection, type Endpoint, requestService } from "../stream/mod.ts";
import type { ParsedArgs } from "./_command.ts";
import { connectFromFlags } from "./_nats.ts";

/** Runs `fn` on a connection made from the command's flags, and closes it however `fn` ends. */
export async function withServiceConnection<T>(
  args: ParsedArgs,
  name: string,
  fn: (nc: BusConnection) => Promise<T>,
): Promise<T> {
  const nc = await connectFromFlags(args, { name: `adp ${name}` });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

/** One request to a service endpoint on a connection made from the command's flags: its JSON reply. */
export function askService<T>(
  args: ParsedArgs,
  name: string,
  endpoint: Endpoint,
  body?: unknown,
): Promise<T> {
  return withServiceConnection(args, name, (nc) => requestService<T>(nc, endpoint, body));
}

/** Prints `reply` as JSON with `--json`, else as the line `format` makes of it. */
export function printReply<T>(args: ParsedArgs, reply: T, format: (reply: T) => string): void {
  console.log(args.values.json ? JSON.stringify(reply, null, 2) : format(reply));
}
