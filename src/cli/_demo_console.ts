/**
 * The demo's console and its stopping: one line printer that ends a live progress bar first, the
 * Ctrl-C signal every wait of the demo gives way to, and the list of resources released at the end.
 *
 * @module
 */

/** Raised when the user interrupts the demo (Ctrl-C). */
export class Interrupted extends Error {
  constructor() {
    super("Interrupted");
    this.name = "Interrupted";
  }
}

/** Resources to release at the end, last acquired first; each step is bounded in time. */
export class Cleanup {
  readonly #steps: { what: string; fn: () => Promise<unknown> | unknown }[] = [];

  /** Adds a step, run before those added earlier. */
  defer(what: string, fn: () => Promise<unknown> | unknown): void {
    this.#steps.push({ what, fn });
  }

  /** Runs every step, last added first; a failing or hanging step is reported and passed over. */
  async run(): Promise<void> {
    while (this.#steps.length) {
      const { what, fn } = this.#steps.pop()!;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(fn),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error("Timed out after 15 s")), 15_000);
          }),
        ]);
      } catch (error) {
        console.error(`warning: ${what} failed: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** Aborted on the first Ctrl-C: every wait of the demo gives way to it. */
export const interrupt: AbortController = new AbortController();

/** `p`, or an {@linkcode Interrupted} rejection as soon as the user presses Ctrl-C. */
export function unlessInterrupted<T>(p: Promise<T>): Promise<T> {
  if (interrupt.signal.aborted) return Promise.reject(new Interrupted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Interrupted());
    interrupt.signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => interrupt.signal.removeEventListener("abort", onAbort));
  });
}

/** Waits `ms`, or less when interrupted. */
export function sleep(ms: number): Promise<void> {
  return unlessInterrupted(new Promise((r) => setTimeout(r, ms)));
}

/** Whether a progress bar is being redrawn on the terminal's last line (a new line must end it first). */
let barOpen = false;

/** Prints a line (none: an empty one), ending a progress bar being redrawn first. */
export function say(line?: string): void {
  if (barOpen) {
    barOpen = false;
    console.log();
    if (line === undefined) return;
  }
  console.log(line ?? "");
}

/** Redraws the progress bar line; `keep` ends the previous one first, so a finished stage stays. */
export function drawBar(line: string, keep: boolean): void {
  const text = `${keep && barOpen ? "\n" : ""}\r\x1b[2K${line}`;
  Deno.stdout.writeSync(new TextEncoder().encode(text));
  barOpen = true;
}

/** The terminal's width, 100 when there is none. */
export function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 100;
  } catch {
    return 100;
  }
}

/** A number with `digits` decimals, or "-" for none. */
export function fixed(v: number | null, digits = 3): string {
  return v === null ? "-" : v.toFixed(digits);
}
