/**
 * The console in a real browser (Debian's Chromium through puppeteer-core) against a real
 * nats-server and the real processor scoring MVTec bottle frames with the proxy backbone: log in,
 * enroll a station from frames picked on the page, see a defective frame's heat map and score, drag
 * the threshold and confirm it (the service's threshold changes), mark a false reject good (a new
 * profile version), roll back (the earlier version in force), a viewer who can do none of it, and
 * the stations page under 16 stations at 10 frames/s (figures printed). Screenshots of each page go
 * to docs/.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { startProcessor } from "../../src/stream/processor.ts";
import { framesSubject } from "../../src/stream/subjects.ts";
import { hashPassword, parseUsers, startConsole } from "../../src/console/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottle, sendFrame, stateDirWith, tinyModel } from "../stream/_fixture.ts";
import { CHROMIUM_ARGS, chromiumPath } from "./_browser.ts";
import { measureLoad } from "./_load.ts";

const chromium = needsShared.ignore ? undefined : chromiumPath();
const DOCS = new URL("../../docs/", import.meta.url).pathname;
const STATION = "line-1";
/** The other stations fed in the load run (16 in all with STATION). */
const CELLS = Array.from({ length: 15 }, (_, i) => `cell-${String(i + 1).padStart(2, "0")}`);

async function login(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector("input[name=user]");
  await page.type("input[name=user]", user);
  await page.type("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector(".top nav");
}

async function text(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (e) => e.textContent ?? "");
}

/** Waits until the text of `selector` matches `pattern` (the check runs in the page). */
async function waitForText(page: Page, selector: string, pattern: RegExp, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    `${pattern}.test(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "")`,
    { timeout },
  );
}

async function defect(): Promise<Uint8Array> {
  return await Deno.readFile(sharedPath("datasets/mvtec-ad/bottle/test/broken_large/000.png"));
}

/** Drags the histogram's handle from one fraction of its width to another; returns the candidate. */
async function dragThreshold(page: Page, from: number, to: number): Promise<number> {
  const histogram = (await page.$("svg.histogram"))!;
  await histogram.scrollIntoView();
  const box = (await histogram.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * from, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * to, y, { steps: 4 });
  await page.mouse.up();
  // The page renders the drag asynchronously: wait for the preview to leave the threshold.
  await page.waitForFunction(
    `document.querySelector(".preview .candidate")?.textContent !== document.querySelector(".summary .threshold")?.textContent`,
  );
  return Number(await text(page, ".preview .candidate"));
}

/** What the steps share. */
interface Run {
  page: Page;
  url: string;
  camera: NatsConnection;
  check: NatsConnection;
}

async function profileMeta(run: Run): Promise<{ version: number; threshold: number }> {
  const reply = await run.check.request("adp.svc.profiles.get", JSON.stringify({ station: STATION }));
  return reply.json<{ meta: { version: number; threshold: number } }>().meta;
}

async function seeTiles({ page, url, camera }: Run): Promise<void> {
  await login(page, url, "ada", "op-pass");
  await page.waitForSelector("section[aria-label=stations]");
  // Enrolled but silent: the station is listed from the service's profiles before any frame.
  await waitForText(page, `[data-station="${STATION}"] .health`, /waiting for frames/, 30_000);
  await waitForText(page, `[data-station="${CELLS[14]}"] .health`, /waiting for frames/, 30_000);
  for (let i = 0; i < 9; i++) sendFrame(camera, framesSubject(STATION), await bottle(10 + i), `good-${i}`);
  await waitForText(page, `[data-station="${STATION}"] .score`, /^-?\d/, 60_000);
  // A station the service has not enrolled shows up too, saying so.
  sendFrame(camera, framesSubject("line-2"), await bottle(20), "new-0");
  await waitForText(page, `[data-station="line-2"] .health`, /not enrolled/, 30_000);
}

async function enrollFromPage({ page, url, camera }: Run): Promise<void> {
  await page.goto(`${url}#/teach/${STATION}`);
  await page.waitForSelector(".shot");
  for (const id of ["good-0", "good-1", "good-2", "good-3"]) await page.click(`.shot[data-frame="${id}"]`);
  assert.equal(await text(page, ".picked-count"), "4");
  await page.type("input.steps", "2");
  await page.click("button.start-enroll");
  await waitForText(page, ".enroll-progress .done", /Profile v2 is live/, 300_000);
  for (let i = 0; i < 3; i++) sendFrame(camera, framesSubject(STATION), await bottle(30 + i), `after-${i}`);
  await waitForText(page, "section[aria-label='compare versions'] tbody", /v2/, 60_000);
  await page.screenshot({ path: join(DOCS, "console-teach.png"), fullPage: true });
}

async function seeDefect({ page, url, camera }: Run): Promise<void> {
  sendFrame(camera, framesSubject(STATION), await defect(), "defect-1");
  await page.goto(`${url}#/station/${STATION}`);
  await waitForText(page, ".last-anomaly figcaption", /defect-1/, 60_000);
  const canvas = "canvas[aria-label='last anomaly with heat map']";
  await page.waitForSelector(`${canvas}[data-has-heat=yes]`, { timeout: 30_000 });
  const score = Number(await page.$eval(canvas, (e) => e.getAttribute("data-score")));
  const threshold = Number(await text(page, ".summary .threshold"));
  assert.ok(score >= threshold, `the defect's score ${score} reaches the threshold ${threshold}`);
  await page.waitForSelector(".legend .tick");
  await page.waitForSelector("canvas[aria-label='live frame']");
  await page.screenshot({ path: join(DOCS, "console-station.png"), fullPage: true });
}

/** Drags the threshold to the histogram's low end (good parts will be rejected) and applies it. */
async function lowerThreshold(run: Run): Promise<void> {
  const { page } = run;
  const before = Number(await text(page, ".summary .threshold"));
  const candidate = await dragThreshold(page, 0.5, 0.05);
  assert.ok(candidate < before - 0.01, `the drag lowered the candidate (${candidate} vs ${before})`);
  await page.click("button.apply");
  await page.waitForSelector(".confirm");
  await page.click(".confirm-yes");
  await waitForText(page, ".message", /set from/);
  const meta = await profileMeta(run);
  assert.ok(
    Math.abs(meta.threshold - candidate) < 0.006,
    `service threshold ${meta.threshold} ≈ ${candidate}`,
  );
  assert.equal(meta.version, 3, "a threshold set by hand is a new version");
  await waitForText(page, ".summary", /profile v3/);
}

async function markFalseRejectGood(run: Run): Promise<void> {
  const { page, url, camera } = run;
  for (let i = 0; i < 4; i++) sendFrame(camera, framesSubject(STATION), await bottle(40 + i), `fr-${i}`);
  await page.goto(`${url}#/review/${STATION}`);
  // Newest first: until all four are listed, an arriving one shifts the list under the mouse and the
  // click lands on another item's button.
  await page.waitForFunction(`document.querySelectorAll('.review-item[data-frame^="fr-"]').length === 4`, {
    timeout: 60_000,
  });
  const flagged = `.review-item.anomaly[data-frame^="fr-"]`;
  await page.waitForSelector(`${flagged} canvas[data-has-heat=yes]`, { timeout: 60_000 });
  const frameId = await page.$eval(flagged, (e) => e.getAttribute("data-frame"));
  const falseReject = `.review-item.anomaly[data-frame="${frameId}"]`;
  await waitForText(page, ".in-force-version", /^v3$/);
  await page.click(`${falseReject} .mark-good`);
  await waitForText(page, `${falseReject} .message`, /good: profile v4 in force \(was v3\)/, 60_000);
  assert.equal((await profileMeta(run)).version, 4);
  await waitForText(page, ".in-force-version", /^v4$/, 30_000);
  await waitForText(
    page,
    `.history tr[data-version="4"] .kind`,
    new RegExp(`feedback \\(good ${frameId}\\) from v3`),
  );
}

async function rollBack(run: Run): Promise<void> {
  const { page, url } = run;
  await page.click(`.history tr[data-version="3"] button.rollback`);
  await page.waitForSelector(".history .confirm");
  await page.click(".history .confirm-yes");
  await waitForText(page, ".history-message", /v3 is in force again \(was v4\)/, 30_000);
  await waitForText(page, ".in-force-version", /^v3$/);
  assert.equal((await profileMeta(run)).version, 3);
  // The tiles tell the page of the version change; it reloads the station and its heat scale.
  await waitForText(page, ".legend", /profile v3/, 30_000);
  await page.screenshot({ path: join(DOCS, "console-review.png"), fullPage: true });
  await page.goto(`${url}#/station/${STATION}`);
  await waitForText(page, ".summary", /profile v3/, 30_000);
  await page.goto(`${url}#/stations`);
  await waitForText(page, `[data-station="${STATION}"] .profile-version`, /^v3$/, 30_000);
}

async function viewerCannotChange({ url }: Run, browser: Browser): Promise<void> {
  const context = await browser.createBrowserContext();
  try {
    const viewer = await context.newPage();
    await login(viewer, url, "vic", "view-pass");
    await viewer.goto(`${url}#/station/${STATION}`);
    await viewer.waitForSelector(".viewer-note");
    assert.equal(await viewer.$("button.apply"), null);
    await viewer.goto(`${url}#/review/${STATION}`);
    await viewer.waitForSelector(".history tbody tr");
    assert.equal(await viewer.$(".mark-good"), null);
    assert.equal(await viewer.$("button.rollback"), null);
    const statuses = await viewer.evaluate(async (s) => {
      const post = (what: string, body: unknown) =>
        fetch(`/api/stations/${s}/${what}`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-adp-console": "1" },
          body: JSON.stringify(body),
        }).then((r) => r.status);
      return [
        await post("threshold", { threshold: 0.5 }),
        await post("feedback", { frameId: "fr-0", label: "good" }),
        await post("rollback", { version: 2 }),
      ];
    }, STATION);
    assert.deepEqual(statuses, [403, 403, 403]);
  } finally {
    await context.close();
  }
}

async function underLoad({ page, url, camera }: Run): Promise<void> {
  await page.goto(`${url}#/stations`);
  await page.waitForSelector(`[data-station="${CELLS[14]}"]`);
  const figures = await measureLoad(page, camera, [STATION, ...CELLS], { fps: 10, seconds: 20 });
  console.log(`console under 16 stations × 10 frames/s for 20 s: ${JSON.stringify(figures)}`);
  await page.screenshot({ path: join(DOCS, "console-stations.png"), fullPage: true });
  assert.ok(figures.answered > 0 && figures.shown > 0, "the page showed verdicts of the load's frames");
  assert.ok(figures.busyShare < 0.5, `the page's main thread was ${figures.busyShare} busy`);
}

Deno.test({
  name: "adp console: enroll, see a defect, tune, label a false reject, roll back, in a real browser",
  ignore: needsShared.ignore || chromium === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const backbone = sharedPath("models/proxy/backbone.json");
    const stations = Object.fromEntries([STATION, ...CELLS].map((s) => [s, { backbone }]));
    const stateDir = await stateDirWith(model.clip, stations);
    const users = parseUsers(
      `ada:operator:${hashPassword("op-pass")},vic:viewer:${hashPassword("view-pass")}`,
      "test",
    );
    let browser: Browser | undefined;
    try {
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        backbone,
        log: () => {},
      });
      await using server = await startConsole({
        nc: await ns.connect("console"),
        users,
        port: 0,
        statusEveryMs: 500,
        log: () => {},
      });
      browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 720 });
      const run: Run = {
        page,
        url: server.url,
        camera: await ns.connect("camera"),
        check: await ns.connect("check"),
      };

      await t.step("an operator logs in and sees the stations' tiles appear live", () => seeTiles(run));
      await t.step(
        "an operator enrolls the station from frames picked on the page",
        () => enrollFromPage(run),
      );
      await t.step("a defective frame's verdict, heat map and score appear", () => seeDefect(run));
      await t.step("dragging the threshold and confirming changes the service's", () => lowerThreshold(run));
      await t.step("marking a false reject good makes a new profile version", () => markFalseRejectGood(run));
      await t.step("rolling back puts the earlier version in force", () => rollBack(run));
      await t.step("a viewer can neither see nor call the changes", () => viewerCannotChange(run, browser!));
      await t.step("the stations page with 16 stations at 10 frames/s", () => underLoad(run));
      await processor.stop();
    } finally {
      await browser?.close();
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
