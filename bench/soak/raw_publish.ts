/**
 * A publisher that speaks the NATS protocol itself, so it can send what nats.js refuses to build:
 * header names with spaces or non-ASCII letters, lower-case names (nats.go and other clients send
 * them). Used by the soak's header attack and by the tests of it; loopback only.
 *
 * @module
 */

/** A raw NATS connection that publishes frames with hand-written header blocks. */
export class RawPublisher implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #encoder = new TextEncoder();

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to `nats://host:port` (no auth) and says CONNECT with headers on. */
  static async connect(url: string): Promise<RawPublisher> {
    const { hostname, port } = new URL(url.replace(/^nats:/, "http:"));
    const conn = await Deno.connect({ hostname, port: Number(port) });
    const raw = new RawPublisher(conn);
    await raw.#readUntil("INFO");
    await raw.#write(
      raw.#encoder.encode(
        `CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"name":"raw"}\r\n`,
      ),
    );
    await raw.flush();
    return raw;
  }

  /**
   * Publishes `payload` on `subject` with the headers as given, byte for byte (`name: value` lines;
   * names may hold anything but a colon, CR and LF).
   */
  async publish(subject: string, payload: Uint8Array, headers: [string, string][]): Promise<void> {
    const block = this.#encoder.encode(
      `NATS/1.0\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`,
    );
    const head = this.#encoder.encode(`HPUB ${subject} ${block.length} ${block.length + payload.length}\r\n`);
    const msg = new Uint8Array(head.length + block.length + payload.length + 2);
    msg.set(head);
    msg.set(block, head.length);
    msg.set(payload, head.length + block.length);
    msg.set([13, 10], msg.length - 2);
    await this.#write(msg);
  }

  /** Resolves once the server has processed everything sent so far (PING → PONG). */
  async flush(): Promise<void> {
    await this.#write(this.#encoder.encode("PING\r\n"));
    await this.#readUntil("PONG");
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  async #readUntil(token: string): Promise<void> {
    const buf = new Uint8Array(65536);
    let text = "";
    while (!text.includes(token)) {
      const n = await this.#conn.read(buf);
      if (n === null) throw new Error(`Raw NATS connection closed before ${token}`);
      text += new TextDecoder().decode(buf.subarray(0, n));
      if (text.includes("-ERR")) throw new Error(`nats-server refused: ${text.trim()}`);
      // Answer the server's keep-alive while waiting.
      if (text.includes("PING\r\n") && token !== "PING") await this.#write(this.#encoder.encode("PONG\r\n"));
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
