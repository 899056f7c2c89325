import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { areaOf, checkLayers, fileCycles, formatAreaGraph, longFunctions } from "../../tools/check_layers.ts";
import { tempDir } from "../_temp_dir.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
}

Deno.test("the source tree keeps its layers: no cycle, no upward or deep import, no overlong file or function", async () => {
  const report = await checkLayers(ROOT);
  deepStrictEqual(report.violations.map((v) => `${v.rule}: ${v.file}: ${v.message}`), []);
  ok(report.areas.has("stream") && report.areas.get("stream")!.has("adp"));
});

Deno.test("areaOf() puts sub-areas of adp on their own floors and src/*.ts on the ground floor", () => {
  strictEqual(areaOf("adp/text/prompts.ts"), "adp/text");
  strictEqual(areaOf("adp/enroll.ts"), "adp");
  strictEqual(areaOf("errors.ts"), "core");
  strictEqual(areaOf("cli.ts"), "cli");
  strictEqual(areaOf("stream/processor.ts"), "stream");
});

Deno.test("checkLayers() reports an upward import, a deep import, a cycle and an overlong file", async () => {
  await using dir = await tempDir();
  const body = Array.from({ length: 85 }, (_, i) => `  const x${i} = ${i};`).join("\n");
  await writeTree(dir.path, {
    "src/image/mod.ts": 'export { a } from "./a.ts";\n',
    "src/image/a.ts": 'import { b } from "./b.ts";\nexport const a = 1;\n',
    "src/image/b.ts": 'import { a } from "./a.ts";\nexport const b = a;\n',
    "src/metrics/mod.ts": 'import { s } from "../stream/mod.ts";\nexport const m = s;\n',
    "src/stream/mod.ts":
      `import { a } from "../image/a.ts";\nexport const s = a;\nexport function long() {\n${body}\n}\n`,
    "src/stream/big.ts": "// x\n".repeat(601),
  });
  const report = await checkLayers(dir.path);
  const rules = report.violations.map((v) => `${v.rule} ${v.file}`).sort();
  deepStrictEqual(rules, [
    "cycle src/image/a.ts",
    "deep-import src/stream/mod.ts",
    "file-length src/stream/big.ts",
    "function-length src/stream/mod.ts",
    "upward-import src/metrics/mod.ts",
  ]);
  strictEqual(formatAreaGraph(report.areas).split("\n")[1], "metrics    → stream");
});

Deno.test("longFunctions() measures by the closing brace, skips calls and honours a 'long:' comment", () => {
  const body = Array.from({ length: 80 }, () => "  step();").join("\n");
  const source = [
    "export async function stages(",
    "  a: number,",
    "): Promise<void> {",
    body,
    "}",
    "// long: one table, read top to bottom",
    "function table() {",
    body,
    "}",
    "run(() => {",
    body,
    "});",
  ].join("\n");
  deepStrictEqual(longFunctions(source), [{ name: "stages", line: 1, lines: 84 }]);
});

Deno.test("fileCycles() finds each strongly connected group once", () => {
  const edges = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]], ["e", ["e2"]], ["e2", []]]);
  deepStrictEqual(fileCycles(edges), [["a", "b", "c"]]);
});
