// Review: anomalies (with their maps) and recent passes (frame, score and verdict: the service
// sends no map for a pass), filtered; mark good or defect; the profile history with rollback.
import { useState } from "preact/hooks";
import { html } from "./html.js";
import { api, fmt, frameUrl } from "./api.js";
import { HeatFrame, Legend } from "./heat.js";
import { useStation } from "./station.js";
import { History } from "./history.js";

const WINDOWS = { "10 min": 600_000, "1 h": 3_600_000, all: Infinity };

function items(data, verdict, windowMs) {
  const since = Date.now() - windowMs;
  const held = new Set(data.recentFrames);
  const anomalies = data.anomalies.map((a) => ({ ...a, kind: "anomaly" }));
  const passes = data.results.filter((r) => r.score !== null && !r.anomalous && held.has(r.frameId))
    .map((r) => ({ ...r, kind: "pass" }));
  const all = verdict === "anomalies" ? anomalies : verdict === "passes" ? passes : [...anomalies, ...passes];
  return all.filter((i) => i.at >= since).sort((a, b) => b.at - a.at);
}

function Item({ station, item, scale, operator }) {
  const [outcome, setOutcome] = useState(null);
  const mark = async (label) => {
    setOutcome(`${label}: waiting for the service's new profile version…`);
    try {
      const r = await api(`/api/stations/${encodeURIComponent(station)}/feedback`, {
        frameId: item.frameId,
        label,
      });
      setOutcome(
        `${label}: profile v${r.profileVersion} in force (was v${r.previousVersion}), threshold ${
          fmt(r.previousThreshold)
        } → ${fmt(r.threshold)}`,
      );
    } catch (e) {
      setOutcome(`Not applied: ${e.message}`);
    }
  };
  return html`<article class=${`review-item ${item.kind}`} data-frame=${item.frameId}>
    <${HeatFrame} src=${
    item.hasFrame === false ? null : frameUrl(station, item.frameId)
  } item=${item} scale=${scale}
      label=${`${item.kind} ${item.frameId}`} />
    <p><strong>${item.kind}</strong> ${item.frameId} · score ${fmt(item.score)} · v${item.profileVersion}
      · ${new Date(item.at).toLocaleTimeString()}</p>
    ${
    operator && html`<p><button class="mark-good" onClick=${() => mark("good")}>Mark good</button>
      <button class="mark-defect" onClick=${() => mark("defect")}>Mark defect</button></p>`
  }
    ${outcome && html`<p class="message" role="status">${outcome}</p>`}
  </article>`;
}

/** The review page. */
export function ReviewPage({ station, me }) {
  const { data, error } = useStation(station);
  const [verdict, setVerdict] = useState("all");
  const [windowName, setWindow] = useState("1 h");
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="loading">Loading ${station}…</p>`;
  const list = items(data, verdict, WINDOWS[windowName]);
  return html`<section aria-label=${`review ${station}`}>
    <h1>Review ${station}</h1>
    <p class="filters">
      <label>Verdict <select value=${verdict} onChange=${(e) => setVerdict(e.target.value)}>
        <option value="all">all</option><option value="anomalies">anomalies</option><option value="passes">passes</option>
      </select></label>
      <label>Time <select value=${windowName} onChange=${(e) => setWindow(e.target.value)}>
        ${Object.keys(WINDOWS).map((w) => html`<option value=${w}>${w}</option>`)}
      </select></label>
    </p>
    <p class="muted">A mark goes to the service on adp.feedback.${station}, which answers with the profile version
      it made. Passes show their frame (while the console holds it), score and verdict but no map: the service
      sends maps with anomaly events only.</p>
    <${Legend} scale=${data.scale} />
    <div class="review-list">${
    list.map((i) =>
      html`
        <${Item} key=${i.kind + i.frameId} station=${station} item=${i} scale=${data.scale}
          operator=${me.role === "operator"} />
      `
    )
  }</div>
    ${list.length === 0 && html`<p class="muted">Nothing in this window.</p>`}
    <${History} station=${station} version=${data.tile?.profileVersion} operator=${me.role === "operator"} />
  </section>`;
}
