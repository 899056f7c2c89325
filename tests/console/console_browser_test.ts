/**
 * The console in a real browser (Debian's Chromium through puppeteer-core) against a real
 * nats-server and the real processor scoring MVTec bottle frames with the proxy backbone: log in,
 * see a station's tile appear live, see a defective frame's heat map and score, drag the threshold
 * and confirm it (the service's threshold changes), and a viewer who cannot. Screenshots of each
 * page go to docs/.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { startProcessor } from "../../src/stream/processor.ts";
import { framesSubject } from "../../src/stream/subjects.ts";
import { hashPassword, parseUsers, startConsole } from "../../src/console/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottle, sendFrame, stateDirWith, tinyModel } from "../stream/_fixture.ts";
import { CHROMIUM_ARGS, chromiumPath } from "./_browser.ts";

const chromium = needsShared.ignore ? undefined : chromiumPath();
const DOCS = new URL("../../docs/", import.meta.url).pathname;
const STATION = "line-1";

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

async function dragThreshold(page: Page): Promise<number> {
  const histogram = (await page.$("svg.histogram"))!;
  await histogram.scrollIntoView();
  const box = (await histogram.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.45, y, { steps: 4 });
  await page.mouse.up();
  // The page renders the drag asynchronously: wait for the preview to leave the threshold.
  await page.waitForFunction(
    `document.querySelector(".preview .candidate")?.textContent !== document.querySelector(".summary .threshold")?.textContent`,
  );
  return Number(await text(page, ".preview .candidate"));
}

Deno.test({
  name:
    "adp console serves live tiles, fixed-scale heat maps, a confirmed threshold and enrollment to a real browser",
  ignore: needsShared.ignore || chromium === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const backbone = sharedPath("models/proxy/backbone.json");
    const stateDir = await stateDirWith(model.clip, { [STATION]: { backbone } });
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
      const client = await ns.connect("camera");
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

      await t.step("an operator logs in and sees the station's tile appear live", async () => {
        await login(page, server.url, "ada", "op-pass");
        await page.waitForSelector("section[aria-label=stations]");
        // Enrolled but silent: the station is listed from the service's profiles before any frame.
        await waitForText(page, `[data-station="${STATION}"] .health`, /waiting for frames/, 30_000);
        for (let i = 0; i < 9; i++) {
          sendFrame(client, framesSubject(STATION), await bottle(10 + i), `good-${i}`);
        }
        sendFrame(client, framesSubject(STATION), await defect(), "defect-1");
        // The defect is flagged (a good part may be too: false rejects happen at the calibrated threshold).
        await waitForText(page, `[data-station="${STATION}"] .anomaly-count`, /^[1-9]\d*$/, 60_000);
        await page.waitForSelector(`[data-station="${STATION}"] img.thumb[src*="defect-1"]`, {
          timeout: 60_000,
        });
        // A station the service has not enrolled shows up too, saying so.
        sendFrame(client, framesSubject("line-2"), await bottle(20), "new-0");
        await waitForText(page, `[data-station="line-2"] .health`, /not enrolled/, 30_000);
        await waitForText(page, `[data-station="${STATION}"] .score`, /^-?\d/, 60_000);
        await page.screenshot({ path: join(DOCS, "console-stations.png") });
      });

      await t.step("the station page shows the defective frame's heat map, regions and score", async () => {
        await page.goto(`${server.url}#/station/${STATION}`);
        await waitForText(page, ".last-anomaly figcaption", /defect-1/, 30_000);
        await page.waitForSelector("canvas[aria-label='last anomaly with heat map'][data-has-heat=yes]", {
          timeout: 30_000,
        });
        const score = Number(
          await page.$eval(
            "canvas[aria-label='last anomaly with heat map']",
            (e) => e.getAttribute("data-score"),
          ),
        );
        const threshold = Number(await text(page, ".summary .threshold"));
        assert.ok(score >= threshold, `the defect's score ${score} reaches the threshold ${threshold}`);
        await page.waitForSelector(".legend .tick");
        await page.waitForSelector("canvas[aria-label='live frame']");
        await page.screenshot({ path: join(DOCS, "console-station.png"), fullPage: true });
      });

      await t.step("dragging the threshold and confirming changes the service's threshold", async () => {
        const before = Number(await text(page, ".summary .threshold"));
        const candidate = await dragThreshold(page);
        assert.ok(
          Math.abs(candidate - before) > 0.01,
          `the drag moved the candidate (${candidate} vs ${before})`,
        );
        await page.click("button.apply");
        await page.waitForSelector(".confirm");
        await page.click(".confirm-yes");
        await waitForText(page, ".message", /set from/);
        const nc = await ns.connect("check");
        const reply = await nc.request("adp.svc.profiles.get", JSON.stringify({ station: STATION }));
        const meta = reply.json<{ meta: { threshold: number } }>().meta;
        assert.ok(
          Math.abs(meta.threshold - candidate) < 0.006,
          `service threshold ${meta.threshold} ≈ ${candidate}`,
        );
        assert.notEqual(meta.threshold, before);
      });

      await t.step("teach and review pages render the held frames", async () => {
        await page.goto(`${server.url}#/teach/${STATION}`);
        await page.waitForSelector(".shot");
        const shots = await page.$$(".shot");
        for (const s of shots.slice(1, 5)) await s.click();
        assert.equal(await text(page, ".picked-count"), "4");
        await page.goto(`${server.url}#/review/${STATION}`);
        await page.waitForSelector(".review-item.anomaly canvas[data-has-heat=yes]");
        await page.click(".review-item.anomaly .mark-good");
        await waitForText(page, ".review-item .message", /no service answers feedback/);
        await page.screenshot({ path: join(DOCS, "console-review.png"), fullPage: true });
      });

      await t.step("a viewer sees the station but cannot change the threshold", async () => {
        const context = await browser!.createBrowserContext();
        const viewer = await context.newPage();
        await login(viewer, server.url, "vic", "view-pass");
        await viewer.goto(`${server.url}#/station/${STATION}`);
        await viewer.waitForSelector(".viewer-note");
        assert.equal(await viewer.$("button.apply"), null);
        const status = await viewer.evaluate(async (s) => {
          const res = await fetch(`/api/stations/${s}/threshold`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-adp-console": "1" },
            body: JSON.stringify({ threshold: 0.5 }),
          });
          return res.status;
        }, STATION);
        assert.equal(status, 403);
        await context.close();
      });
      await t.step("an operator enrolls the station from frames picked on the page", async () => {
        await page.goto(`${server.url}#/teach/${STATION}`);
        await page.waitForSelector(".shot");
        for (const id of ["good-0", "good-1", "good-2", "good-3"]) {
          await page.click(`.shot[data-frame="${id}"]`);
        }
        await page.type("input.steps", "2");
        await page.click("button.start-enroll");
        await waitForText(page, ".enroll-progress .done", /Profile v2 is live/, 180_000);
        for (let i = 0; i < 3; i++) {
          sendFrame(client, framesSubject(STATION), await bottle(30 + i), `after-${i}`);
        }
        await waitForText(page, "section[aria-label='compare versions'] tbody", /v2/, 60_000);
        await page.screenshot({ path: join(DOCS, "console-teach.png"), fullPage: true });
      });
      await processor.stop();
    } finally {
      await browser?.close();
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
