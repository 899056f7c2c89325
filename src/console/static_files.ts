/**
 * The web application's files: the pages' own modules from `src/console/app/`, and the front-end
 * libraries (Preact, its hooks, htm) straight from the npm packages in `node_modules`: no CDN, no
 * build step. Only names on a fixed list are served.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const APP_DIR = fromFileUrl(new URL("./app/", import.meta.url));
const APP_FILE_REGEXP = /^[a-z_]+\.(js|css|html)$/;

/** The vendored modules, by the URL name the import map gives them. */
const VENDOR: Record<string, string> = {
  "preact.mjs": "preact/dist/preact.module.js",
  "hooks.mjs": "preact/hooks/dist/hooks.module.js",
  "htm.mjs": "htm/dist/htm.module.js",
};

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  html: "text/html; charset=utf-8",
};

/** The `node_modules` folder holding the front-end packages: the checkout's, else the working directory's. */
function nodeModules(): string {
  const candidates = [
    fromFileUrl(new URL("../../node_modules/", import.meta.url)),
    join(Deno.cwd(), "node_modules"),
  ];
  return candidates.find((dir) => existsSync(join(dir, "preact"))) ?? candidates[0];
}

/**
 * The response for a static path (`/`, `/app/<file>`, `/vendor/<file>`), or null when the path is
 * not one.
 *
 * @param path the URL's path
 * @returns the file with its content type, or a 404, or null
 */
export async function staticFile(path: string): Promise<Response | null> {
  let file: string | undefined;
  if (path === "/" || path === "/index.html") file = join(APP_DIR, "index.html");
  else if (path.startsWith("/app/")) {
    const name = path.slice(5);
    if (APP_FILE_REGEXP.test(name)) file = join(APP_DIR, name);
  } else if (path.startsWith("/vendor/")) {
    const target = VENDOR[path.slice(8)];
    if (target) file = join(nodeModules(), target);
  } else return null;
  if (!file) return new Response("Not found", { status: 404 });
  try {
    const body = await Deno.readFile(file);
    const ext = file.slice(file.lastIndexOf(".") + 1);
    return new Response(body, {
      headers: { "content-type": TYPES[ext] ?? "application/octet-stream", "cache-control": "no-cache" },
    });
  } catch {
    return new Response("Not found", { status: 404 });
  }
}
