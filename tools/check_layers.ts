/**
 * The layering rule of the source tree, checked: every area of `src/` sits on a floor, imports only
 * from floors below it and only through that area's `mod.ts`, no two files import each other in a
 * circle, no file is over {@linkcode MAX_FILE_LINES} lines and no function over
 * {@linkcode MAX_FUNCTION_LINES} unless the comment above it says why (a line containing `long:`).
 *
 * `deno run --allow-read tools/check_layers.ts [ROOT]` prints the area graph bottom up and every
 * violation, and exits 1 when there is one. `deno task check` and tests/tools/check_layers_test.ts
 * run it.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

/** The floors, bottom up: an area may import only areas listed before it. */
export const FLOORS: readonly string[] = [
  "core",
  "ops",
  "image",
  "metrics",
  "onnx",
  "clip",
  "model",
  "diffusion",
  "adp/synth",
  "adp/text",
  "adp/patch",
  "adp",
  "stream",
  "camera",
  "bridges",
  "console",
  "eval",
  "cli",
];
/** Longest source file allowed in `src/`. */
export const MAX_FILE_LINES = 600;
/** Longest function allowed without a `long:` comment saying why. */
export const MAX_FUNCTION_LINES = 80;

/** One broken rule, with the file (relative to the root) it is in. */
export interface LayerViolation {
  file: string;
  rule: "upward-import" | "deep-import" | "unknown-area" | "cycle" | "file-length" | "function-length";
  message: string;
}

/** What the check found: the area graph (importer → imported areas) and the violations. */
export interface LayerReport {
  areas: Map<string, Set<string>>;
  violations: LayerViolation[];
}

/** The area a file of `src/` belongs to (`core` for the ground-floor files in `src/` itself). */
export function areaOf(srcRelative: string): string {
  const parts = srcRelative.split("/");
  if (parts.length === 1) return parts[0] === "cli.ts" || parts[0] === "demo.ts" ? "cli" : "core";
  if (parts[0] === "adp" && parts.length > 2 && FLOORS.includes(`adp/${parts[1]}`)) return `adp/${parts[1]}`;
  return parts[0];
}

/**
 * Relative import specifiers of a module's source (static imports, re-exports, dynamic imports),
 * leaving out comments: a doc example's imports are not the module's.
 */
export function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;
  const code = source.split("\n").filter((line) => !/^\s*(\*|\/\/)/.test(line)).join("\n");
  for (const m of code.matchAll(pattern)) found.push(m[1]);
  return found;
}

const FUNCTION_START = [
  /^(\s*)(?:export\s+)?(?:default\s+)?(?:async\s+)?function\b\s*\*?\s*(\w*)/,
  /^(\s*)(?:export\s+)?(?:const|let)\s+(\w+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\(|\w+\s*=>|function\b)/,
  /^(\s+)(?:(?:private|public|protected|static|async|get|set|override|readonly)\s+)*(#?\w+)\s*(?:<[^>]*>)?\(/,
];
const NOT_A_FUNCTION = /^\s*(?:if|for|while|switch|catch|return|await|new|super|throw|yield|else)\b/;

/**
 * Functions longer than `max` lines. `deno fmt` puts a function's closing brace at the indentation
 * of its first line, and a multi-line signature's `)` there too, so indentation finds both ends.
 */
export function longFunctions(
  source: string,
  max = MAX_FUNCTION_LINES,
): { name: string; line: number; lines: number }[] {
  const lines = source.split("\n");
  const out: { name: string; line: number; lines: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FUNCTION_START.map((re) => re.exec(lines[i])).find((x) => x);
    if (!m || NOT_A_FUNCTION.test(lines[i])) continue;
    const indent = m[1], name = m[2] || "(anonymous)";
    const bodyStart = signatureEnd(lines, i, indent);
    if (bodyStart < 0) continue;
    let end = bodyStart;
    while (
      ++end < lines.length && !(lines[end].startsWith(indent + "}") && lines[end][indent.length] === "}")
    ) {
      // the body runs to the closing brace at the first line's indentation
    }
    const length = end - i + 1;
    if (end >= lines.length || length <= max) continue;
    if (/\blong:/.test(lines.slice(Math.max(0, i - 12), i).join("\n"))) continue;
    out.push({ name, line: i + 1, lines: length });
  }
  return out;
}

/** The line that opens a function's body, or -1 when the match was a call or a one-liner. */
function signatureEnd(lines: string[], i: number, indent: string): number {
  const opensBody = (line: string) => /\)\s*(?::\s*[^{]+)?\{$|=>\s*\{$/.test(line);
  if (opensBody(lines[i])) return lines[i].includes("=>") && !/=\s*(?:async\s+)?\(/.test(lines[i]) ? -1 : i;
  if (!/[(<,]$/.test(lines[i])) return -1;
  for (let j = i + 1; j < Math.min(lines.length, i + 40); j++) {
    const line = lines[j];
    if (!line.startsWith(indent) || line[indent.length] === " ") continue;
    return opensBody(line) ? j : -1;
  }
  return -1;
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield path;
  }
}

/** Cycles among files, each as the list of files around it (Tarjan's strongly connected components). */
export function fileCycles(edges: Map<string, string[]>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [];
  const onStack = new Set<string>(), cycles: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter), low.set(v, counter++), stack.push(v), onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do (w = stack.pop()!, onStack.delete(w), component.push(w)); while (w !== v);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** Checks the tree under `root` (the folder holding `src/`). */
export async function checkLayers(root: string): Promise<LayerReport> {
  const src = resolve(root, "src");
  const areas = new Map<string, Set<string>>(), violations: LayerViolation[] = [];
  const edges = new Map<string, string[]>();
  for await (const path of sourceFiles(src)) {
    const file = relative(src, path), from = areaOf(file), text = await Deno.readTextFile(path);
    const shown = join("src", file);
    if (!FLOORS.includes(from)) {
      violations.push({ file: shown, rule: "unknown-area", message: `area '${from}' is on no floor` });
    }
    const lineCount = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lineCount > MAX_FILE_LINES) {
      violations.push({
        file: shown,
        rule: "file-length",
        message: `${lineCount} lines (max ${MAX_FILE_LINES})`,
      });
    }
    for (const f of longFunctions(text)) {
      violations.push({
        file: shown,
        rule: "function-length",
        message:
          `${f.name} (line ${f.line}) is ${f.lines} lines (max ${MAX_FUNCTION_LINES}; a 'long:' comment may say why)`,
      });
    }
    areas.set(from, areas.get(from) ?? new Set());
    const targets: string[] = [];
    for (const spec of importSpecifiers(text)) {
      const target = relative(src, resolve(dirname(path), spec));
      if (target.startsWith("..")) continue;
      targets.push(target);
      const to = areaOf(target);
      if (to === from) continue;
      areas.get(from)!.add(to);
      if (FLOORS.indexOf(to) > FLOORS.indexOf(from)) {
        violations.push({ file: shown, rule: "upward-import", message: `${from} imports ${to} (${spec})` });
      }
      const entry = to === "core" ? target : `${to}/mod.ts`;
      if (target !== entry) {
        violations.push({ file: shown, rule: "deep-import", message: `imports ${spec}: use src/${entry}` });
      }
    }
    edges.set(file, targets);
  }
  for (const cycle of fileCycles(edges)) {
    violations.push({
      file: join("src", cycle[0]),
      rule: "cycle",
      message: `import cycle: ${cycle.map((f) => join("src", f)).join(" ⇄ ")}`,
    });
  }
  return { areas, violations };
}

/** The area graph as text, one floor a line, bottom up. */
export function formatAreaGraph(areas: Map<string, Set<string>>): string {
  return FLOORS.filter((a) => areas.has(a))
    .map((a) => {
      const deps = [...areas.get(a)!].sort((x, y) => FLOORS.indexOf(y) - FLOORS.indexOf(x));
      return `${a.padEnd(10)} → ${deps.length ? deps.join(", ") : "(nothing)"}`;
    })
    .join("\n");
}

if (import.meta.main) {
  const report = await checkLayers(Deno.args[0] ?? ".");
  console.log("Areas, bottom up (each imports only those to its right, all below it):");
  console.log(formatAreaGraph(report.areas));
  for (const v of report.violations) console.log(`${v.rule}: ${v.file}: ${v.message}`);
  console.log(report.violations.length ? `${report.violations.length} violations` : "layers ok");
  if (report.violations.length) Deno.exit(1);
}
