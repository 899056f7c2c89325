/**
 * `deno task soak`: the long reliability runs, bounded, each with its figures, then one table.
 *
 * 1. Decoder fuzz: 10,000+ mutated real frames through the service's decoder path (limits, header
 *    check, decode worker pool), with good frames decoded between them.
 * 2. Service fuzz: mutated frames through a running `adp serve` (a child process, tiny model): one
 *    clear result per frame, none lost.
 * 3. Overload: 5× the sustainable frame rate for 60 s against a fresh `adp serve`, then a trickle.
 * 4. Attacks (issue 17): hostile header names, scan and PNG bombs from a second station,
 *    threshold.set racing an enrollment, 5,000 station names; each with frames sent, answered, lost,
 *    the service's peak RSS, and a victim station streaming beside it (victim.ts): its p99 during
 *    the attack beside its quiet p99; last, the bus control (the victim beside a line-rate flood
 *    that never reaches the service).
 *
 * 5. Faults (issue 17), without and with `--jetstream`: nats-server restarted and the service killed
 *    (kill -9, a fresh instance started) while the victim streams (its p99 clear of the outage), and
 *    without JetStream a 16-shot enrollment of another station.
 *
 * Exits 1 when a frame was lost (with JetStream, or outside the faults), answered unclearly or twice,
 * or anything crashed.
 *
 * ```sh
 * deno task soak                  # 10,000 fuzz, 1,000 through the service, 60 s overload
 * deno task soak --quick          # 2,000, 300, 15 s
 * deno task soak --attacks-only   # only the attacks (--no-faults: without the faults)
 * deno task soak --faults-only    # only the faults (--jetstream-only: only those with JetStream)
 * deno task soak --enrollment-only 3   # only the enrollment during load, three times
 * deno task soak --fuzz 50000 --service-fuzz 5000 --overload-s 300 --factor 5 --frame-side 900
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { requestEnrollment } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../../tests/_nats.ts";
import { type FuzzReport, mib, runDecoderFuzz } from "./fuzz.ts";
import { loadCorpus } from "./mutate.ts";
import { bottleFrames, type OverloadReport, runOverload } from "./overload.ts";
import { publishFrame, type ServeProcess, spawnServe, type TinyModelDir, writeTinyModel } from "./service.ts";
import { runServiceFuzz, type ServiceFuzzReport } from "./service_fuzz.ts";
import { type AttackReport, runAttacks } from "./attacks.ts";
import { enrollmentDuringLoad, type FaultOptions, serverRestart, serviceKill } from "./faults.ts";

const SHARED = new URL("../../../shared/", import.meta.url).pathname;
const STATION = "soak";

/** One line of the final table. */
interface Row {
  run: string;
  tried: number;
  scored: number;
  errors: number;
  crashes: number;
  lost: number;
  peakBytes: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      fuzz: { type: "string" },
      "service-fuzz": { type: "string" },
      "overload-s": { type: "string" },
      factor: { type: "string" },
      "frame-side": { type: "string" },
      seed: { type: "string" },
      "attacks-only": { type: "boolean" },
      "no-faults": { type: "boolean" },
      "faults-only": { type: "boolean" },
      "jetstream-only": { type: "boolean" },
      "station-names": { type: "string" },
      "enrollment-only": { type: "string" },
    },
  });
  const quick = values.quick === true;
  const fuzzCount = Number(values.fuzz ?? (quick ? 2000 : 10_000));
  const serviceCount = Number(values["service-fuzz"] ?? (quick ? 300 : 1000));
  const overloadS = Number(values["overload-s"] ?? (quick ? 15 : 60));
  const factor = Number(values.factor ?? 5);
  const side = values["frame-side"] === undefined ? undefined : Number(values["frame-side"]);
  const seed = Number(values.seed ?? 1);
  const attacksOnly = values["attacks-only"] === true;
  const stationNames = Number(values["station-names"] ?? 5000);
  for (const [name, v] of Object.entries({ fuzzCount, serviceCount, overloadS, factor, seed })) {
    if (!Number.isFinite(v) || v < 0) {
      throw new Error(`Option ${name} must be a non-negative number: got ${v}`);
    }
  }
  const started = performance.now();
  const rows: Row[] = [];
  let failed = false;

  if (values["enrollment-only"] !== undefined) {
    const runs = await enrollmentStage(Number(values["enrollment-only"]));
    printAttacks(runs, performance.now() - started);
    return runs.some((a) => a.problems.length || a.lost > 0) ? 1 : 0;
  }
  if (attacksOnly || values["faults-only"]) {
    const attacks = attacksOnly ? await attackStage(stationNames) : [];
    if (!values["no-faults"]) {
      if (!values["jetstream-only"]) attacks.push(...await faultStage(false));
      attacks.push(...await faultStage(true));
    }
    printAttacks(attacks, performance.now() - started);
    return attacks.some((a) => a.problems.length || (a.lost > 0 && !a.lostExpected)) ? 1 : 0;
  }

  // 1. Decoder fuzz.
  console.log(`decoder fuzz: ${fuzzCount} mutated frames from ../shared (seed ${seed})`);
  const corpus = await loadCorpus({ shared: SHARED, size: "full" });
  const fuzz = await runDecoderFuzz({
    corpus,
    count: fuzzCount,
    seed,
    crashDir: join(Deno.cwd(), "out", "soak-crashes"),
    onProgress: (n, r) =>
      console.log(`  ${n} frames, ${r.crashes.length} crashes, RSS ${mib(Deno.memoryUsage().rss)}`),
  });
  printFuzz(fuzz);
  failed ||= fuzz.unclearErrors > 0;
  rows.push({
    run: "decoder fuzz",
    tried: fuzz.tried,
    scored: fuzz.byReason.decoded ?? 0,
    errors: fuzz.tried - (fuzz.byReason.decoded ?? 0) - fuzz.crashes.length,
    crashes: fuzz.crashes.length,
    lost: fuzz.tried - Object.values(fuzz.byReason).reduce((a, b) => a + b, 0),
    peakBytes: fuzz.peakRssBytes,
  });

  // 2 and 3 against a real service.
  const root = await Deno.makeTempDir({ prefix: "adp-soak-" });
  const ns = await setup({ jetstream: false });
  try {
    const model = await writeTinyModel(
      root,
      join(SHARED, "fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    );
    const stateDir = join(root, "state");
    const nc = await ns.connect("soak");

    console.log(`\nservice fuzz: ${serviceCount} mutated frames through adp serve (tiny model)`);
    let serve = await startService(model, stateDir, ns.url);
    await enrollOverBus(nc, serve);
    const sf = await runServiceFuzz({
      nc,
      station: STATION,
      corpus,
      count: serviceCount,
      seed: seed + 1,
      onProgress: (n) => n % 500 === 0 && console.log(`  ${n} sent`),
    });
    printServiceFuzz(sf);
    const sfCrash = await endService(serve);
    rows.push({
      run: "service fuzz",
      tried: sf.sent,
      scored: sf.scored,
      errors: Object.values(sf.errors).reduce((a, b) => a + b, 0),
      crashes: sfCrash.crashed ? 1 : 0,
      lost: sf.lost + sf.duplicates + sf.unclear,
      peakBytes: sfCrash.peak,
    });

    console.log(`\noverload: ${factor}× the sustainable rate for ${overloadS} s (fresh adp serve)`);
    serve = await startService(model, stateDir, ns.url);
    const frames = await bottleFrames(SHARED, 8, side);
    const ov = await runOverload({
      nc,
      station: STATION,
      frames,
      factor,
      durationS: overloadS,
      calibrateS: quick ? 3 : 5,
      rss: () => serve.rss(),
      log: (l) => console.log(`  ${l}`),
    });
    printOverload(ov, frames[0].length);
    const ovCrash = await endService(serve);
    rows.push({
      run: `overload ${factor}× ${overloadS} s`,
      tried: ov.sent,
      scored: ov.scored,
      errors: Object.values(ov.dropped).reduce((a, b) => a + b, 0),
      crashes: ovCrash.crashed ? 1 : 0,
      lost: ov.lost + ov.duplicates + ov.unclear,
      peakBytes: ovCrash.peak,
    });
    const recovered = ov.latency.recovered.p50 < 3 * ov.latency.idle.p50 + 50;
    if (!recovered) console.log("  NOT RECOVERED: latency after the load is not back to normal");
    failed ||= !recovered || Object.keys(ov.dropped).some((r) => r !== "overload");
    await nc.close();
  } finally {
    await cleanup(ns);
    await Deno.remove(root, { recursive: true });
  }

  const attacks = [...await attackStage(stationNames), ...await faultStage(false), ...await faultStage(true)];
  failed ||= attacks.some((a) => (a.lost > 0 && !a.lostExpected) || a.problems.length > 0);
  failed ||= rows.some((r) => r.crashes > 0 || r.lost > 0);
  printTable(rows, performance.now() - started);
  printAttacks(attacks, performance.now() - started);
  return failed ? 1 : 0;
}

async function startService(
  model: TinyModelDir,
  stateDir: string,
  natsUrl: string,
  workers = 1,
): Promise<ServeProcess> {
  return await spawnServe({ model, stateDir, natsUrl, args: ["--workers", String(workers)] });
}

/** 4. The attacks against a fresh `adp serve` with two decode workers and a fresh state dir. */
async function attackStage(stationNames: number): Promise<AttackReport[]> {
  const root = await Deno.makeTempDir({ prefix: "adp-soak-attacks-" });
  const ns = await setup({ jetstream: false });
  try {
    const model = await writeTinyModel(
      root,
      join(SHARED, "fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    );
    const stateDir = join(root, "state");
    const nc = await ns.connect("soak-attacks");
    const victimNc = await ns.connect("victim-camera");
    console.log(`\nattacks: a fresh adp serve (2 decode workers), victim station ${STATION}`);
    const serve = await startService(model, stateDir, ns.url, 2);
    try {
      await enrollOverBus(nc, serve);
      return await runAttacks({
        nc,
        victimNc,
        natsUrl: ns.url,
        serve,
        stateDir,
        victim: STATION,
        frames: await bottleFrames(SHARED, 8),
        smallFrame: (await bottleFrames(SHARED, 1, 64))[0],
        stationNames,
        log: (l) => console.log(`  ${l}`),
      });
    } finally {
      const end = await endService(serve);
      if (end.crashed) console.log("  the service crashed or exited non-zero");
      await nc.close();
      await victimNc.close();
    }
  } finally {
    await cleanup(ns);
    await Deno.remove(root, { recursive: true });
  }
}

/** 5. The faults against fresh `adp serve` instances (two decode workers), with or without JetStream. */
async function faultStage(jetstream: boolean): Promise<AttackReport[]> {
  return await withFaultService(jetstream, async (opts, serve) => {
    const reports = [await serverRestart(opts, serve.current, jetstream)];
    const killed = await serviceKill(opts, serve.current, jetstream);
    serve.current = killed.serve;
    reports.push(killed.report);
    if (!jetstream) reports.push(await enrollmentDuringLoad(opts, serve.current));
    // Without JetStream the bus cannot keep what it drops: counted, not a failure.
    for (const r of reports) r.lostExpected = !jetstream && !r.attack.startsWith("enrollment");
    return reports;
  });
}

/** The enrollment during load alone, `times` times in a row on one service (issue 17, item 10). */
async function enrollmentStage(times: number): Promise<AttackReport[]> {
  return await withFaultService(false, async (opts, serve) => {
    const reports: AttackReport[] = [];
    for (let i = 0; i < times; i++) reports.push(await enrollmentDuringLoad(opts, serve.current));
    return reports;
  });
}

/** A fresh nats-server, state dir and `adp serve` (two decode workers) with the soak station enrolled. */
async function withFaultService(
  jetstream: boolean,
  run: (opts: FaultOptions, serve: { current: ServeProcess }) => Promise<AttackReport[]>,
): Promise<AttackReport[]> {
  const root = await Deno.makeTempDir({ prefix: "adp-soak-faults-" });
  const ns = await setup({ jetstream });
  try {
    const model = await writeTinyModel(
      root,
      join(SHARED, "fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    );
    const stateDir = join(root, "state");
    const nc = await ns.connect("soak-faults");
    const victimNc = await ns.connect("victim-camera");
    const args = ["--workers", "2", ...(jetstream ? ["--jetstream"] : [])];
    const spawn = () => spawnServe({ model, stateDir, natsUrl: ns.url, args });
    console.log(
      `\nfaults ${jetstream ? "with" : "without"} JetStream: a fresh adp serve, station ${STATION}`,
    );
    const serve = { current: await spawn() };
    try {
      await enrollOverBus(nc, serve.current);
      const opts: FaultOptions = {
        nc,
        victimNc,
        spawn,
        restartServer: () => ns.restart(),
        station: STATION,
        frames: await bottleFrames(SHARED, 8),
        log: (l) => console.log(`  ${l}`),
      };
      return await run(opts, serve);
    } finally {
      const end = await endService(serve.current);
      if (end.crashed) console.log("  the service crashed or exited non-zero");
      await nc.close();
      await victimNc.close();
    }
  } finally {
    await cleanup(ns);
    await Deno.remove(root, { recursive: true });
  }
}

function printAttacks(reports: AttackReport[], ms: number): void {
  console.log(`\nattacks (${(ms / 1000).toFixed(0)} s in all)`);
  console.log("attack | sent | answered | lost | peak RSS | victim p99 quiet → attack | problems");
  for (const r of reports) {
    const p99 = r.quietP99 === null
      ? "–"
      : `${r.quietP99} ms → ${r.attackP99} ms (service ${r.quietServiceP99} → ${r.attackServiceP99})${
        r.control ? ", for comparison" : ""
      }`;
    console.log(
      `${r.attack} | ${r.sent} | ${r.answered} | ${r.lost} | ${mib(r.peakRssBytes)} | ${p99} | ${
        r.problems.join("; ") || "none"
      }`,
    );
  }
}

/** Stops a service; a non-zero exit, or one that had already died, is a crash. */
async function endService(serve: ServeProcess): Promise<{ crashed: boolean; peak: number }> {
  const peak = await serve.peakRss();
  const code = await serve.stop();
  const errors = serve.stderr.filter((l) => /^error:|unexpected failure|panicked/.test(l));
  for (const line of errors) console.log(`  service: ${line}`);
  return { crashed: code !== 0 || peak === 0, peak };
}

/** Enrolls the soak station from two good frames, unless its profile is already there. */
async function enrollOverBus(
  nc: Awaited<ReturnType<Awaited<ReturnType<typeof setup>>["connect"]>>,
  serve: ServeProcess,
) {
  const frames = await bottleFrames(SHARED, 2);
  const job = requestEnrollment(nc, STATION, { shots: 2, steps: 2 }, {
    onAccepted: () => frames.forEach((f, i) => publishFrame(nc, STATION, f, `enroll-${i}`)),
  });
  let error: string | undefined;
  for await (const p of job) error = p.error;
  if (error) throw new Error(`Enrollment failed: ${error}\n${serve.stderr.join("\n")}`);
}

function printFuzz(r: FuzzReport): void {
  console.log(
    `  ${r.tried} frames in ${(r.durationMs / 1000).toFixed(1)} s, ${r.sentinels} good frames between them`,
  );
  console.log(`  outcomes: ${fmt(r.byReason)}`);
  console.log(`  errors: ${fmt(r.byMessage)}`);
  console.log(
    `  by mutation (tried/decoded): ${
      Object.entries(r.byMutation).map(([k, v]) => `${k} ${v.tried}/${v.decoded}`).join(", ")
    }`,
  );
  console.log(
    `  crashes ${r.crashes.length}, unclear errors ${r.unclearErrors}, slowest frame ${
      Math.round(r.slowestMs)
    } ms`,
  );
  console.log(
    `  RSS start ${mib(r.startRssBytes)}, after a tenth ${mib(r.warmRssBytes)}, peak ${
      mib(r.peakRssBytes)
    }, end ${mib(r.endRssBytes)}`,
  );
  for (const c of r.crashes.slice(0, 10)) console.log(`  CRASH ${c.what}: ${c.mutant}: ${c.message}`);
  for (const m of r.unclearExamples) console.log(`  UNCLEAR ${JSON.stringify(m)}`);
}

function printServiceFuzz(r: ServiceFuzzReport): void {
  console.log(
    `  ${r.sent} sent in ${(r.durationMs / 1000).toFixed(1)} s: ${r.scored} scored, errors ${
      fmt(r.errors)
    }; ` +
      `lost ${r.lost}, duplicates ${r.duplicates}, unclear ${r.unclear}`,
  );
  for (const [reason, example] of Object.entries(r.examples)) console.log(`  e.g. ${reason}: ${example}`);
}

function printOverload(r: OverloadReport, frameBytes: number): void {
  const l = r.latency;
  const lat = (x: { p50: number; p99: number }) => `p50 ${x.p50} ms, p99 ${x.p99} ms`;
  console.log(`  frames of ${Math.round(frameBytes / 1024)} KiB`);
  console.log(
    `  sustainable ${r.sustainableFps.toFixed(1)}/s, offered ${r.offeredFps.toFixed(1)}/s, scored ${
      r.scoredFps.toFixed(1)
    }/s during the overload`,
  );
  console.log(
    `  ${r.sent} sent, ${r.results} results, ${r.scored} scored, dropped ${
      fmt(r.dropped)
    }; lost ${r.lost}, ` +
      `duplicates ${r.duplicates}, unclear ${r.unclear}`,
  );
  console.log(
    `  service counters: received ${r.counters.received}, scored ${r.counters.scored}, dropped ${
      fmt(r.counters.dropped)
    }`,
  );
  console.log(
    `  latency of scored frames, publish to result: before ${lat(l.idle)}; during ${
      lat(l.overload)
    } (first third ${lat(l.firstThird)}, last third ${lat(l.lastThird)}); after ${lat(l.recovered)}`,
  );
  console.log(
    `  of which in transit (publish to receipt) ${lat(r.transit)}; in the service (receipt to result) ${
      lat(r.inService)
    }`,
  );
  console.log(`  the last result came ${Math.round(r.drainMs)} ms after the last frame`);
  console.log(
    `  service RSS: before ${mib(r.rss.before)}, at a third ${mib(r.rss.atThird)}, peak ${
      mib(r.rss.peak)
    }, end ${mib(r.rss.end)}, after ${mib(r.rss.after)}`,
  );
}

function printTable(rows: Row[], ms: number): void {
  const total: Row = {
    run: "total",
    tried: sum(rows, "tried"),
    scored: sum(rows, "scored"),
    errors: sum(rows, "errors"),
    crashes: sum(rows, "crashes"),
    lost: sum(rows, "lost"),
    peakBytes: Math.max(...rows.map((r) => r.peakBytes)),
  };
  const header = [
    "run",
    "frames tried",
    "scored / decoded",
    "errors reported",
    "crashes",
    "frames lost",
    "peak memory",
  ];
  const lines = [...rows, total].map((r) => [
    r.run,
    String(r.tried),
    String(r.scored),
    String(r.errors),
    String(r.crashes),
    String(r.lost),
    mib(r.peakBytes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) =>
    `| ${cells.map((c, i) => i ? c.padStart(widths[i]) : c.padEnd(widths[i])).join(" | ")} |`;
  console.log(`\nsoak finished in ${(ms / 1000).toFixed(0)} s\n`);
  console.log(row(header));
  console.log(`|${widths.map((w, i) => i ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2)).join("|")}|`);
  for (const l of lines) console.log(row(l));
  console.log(
    "\npeak memory: the fuzz process (decode worker included) for the decoder fuzz, the adp serve process (VmHWM) for the others",
  );
}

function sum(rows: Row[], key: "tried" | "scored" | "errors" | "crashes" | "lost"): number {
  return rows.reduce((a, r) => a + r[key], 0);
}

function fmt(counts: Record<string, number | undefined>): string {
  return Object.entries(counts).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0)).map(([k, v]) => `${k} ${v}`).join(
    ", ",
  );
}

if (import.meta.main) Deno.exit(await main());
