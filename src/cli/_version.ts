/**
 * `adp --version`: one line, `adp <version> (commit <sha>; onnxruntime <version>; providers a, b)`.
 * The version is deno.json's; the commit is read from git where the checkout has one, else from
 * `ADP_COMMIT` (set it when building an image or a package), else "unknown".
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import { listProviders, runtimeVersion } from "../onnx/mod.ts";

/** The version in deno.json. */
export const VERSION: string = denoJson.version;

/** The version line. */
export async function versionLine(): Promise<string> {
  const providers = listProviders().map((p) => p.name).join(", ");
  return `adp ${VERSION} (commit ${await commit()}; onnxruntime ${runtimeVersion()}; providers known ${providers})`;
}

async function commit(): Promise<string> {
  const fromEnv = Deno.env.get("ADP_COMMIT");
  if (fromEnv) return fromEnv;
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short=12", "HEAD"],
      cwd: new URL("../..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    const sha = new TextDecoder().decode(out.stdout).trim();
    return out.success && sha ? sha : "unknown";
  } catch {
    return "unknown";
  }
}
