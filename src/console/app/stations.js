// Stations: a live tile per station.
import { useState } from "preact/hooks";
import { html } from "./html.js";
import { fmt, frameUrl, useEvents } from "./api.js";

const HEALTH_TEXT = {
  ok: "running",
  "frames-stopped": "frames stopped",
  "service-down": "service down",
  "no-profile": "not enrolled",
  waiting: "waiting for frames",
};

const VERDICT_TEXT = { anomalous: "ANOMALOUS", ok: "ok", error: "not scored", none: "–" };

function Tile({ t }) {
  const href = `#/station/${encodeURIComponent(t.id)}`;
  return html`
    <a class=${`tile verdict-${t.verdict} health-${t.health}`} href=${href} data-station=${t.id}
      data-frame=${t.lastFrameId ?? ""}>
        <h2>${t.id}</h2>
        <p class="verdict" aria-label="verdict">${VERDICT_TEXT[t.verdict] ?? t.verdict}</p>
        <dl>
          <dt>score / threshold</dt><dd><span class="score">${fmt(t.score)}</span> / ${fmt(t.threshold)}</dd>
          <dt>frames/s</dt><dd>${t.fps}</dd>
          <dt>anomalies (1 h)</dt><dd class="anomaly-count">${t.anomaliesLastHour}</dd>
          <dt>profile</dt><dd class="profile-version">${t.profileVersion === null
            ? "none"
            : `v${t.profileVersion}`}</dd>
        </dl>
        <p class=${`health ${t.health}`} title=${t.healthText}>● ${HEALTH_TEXT[t.health] ?? t.health}
          ${t.enrolling ? ` · enrolling` : ""}</p>
        ${t.lastAnomalyFrameId
          ? html`<img class="thumb" alt="last anomaly" src=${frameUrl(t.id, t.lastAnomalyFrameId)} />`
          : html`<div class="thumb none">no anomaly held</div>`}
      </a>
  `;
}

/** The stations page. */
export function StationsPage() {
  const [tiles, setTiles] = useState(null);
  const [live, setLive] = useState(true);
  useEvents(null, { tiles: setTiles, error: () => setLive(false), open: () => setLive(true) });
  if (tiles === null) return html`<p class="loading">Waiting for the live feed…</p>`;
  return html`<section aria-label="stations">
    <h1>Stations ${!live && html`<span class="error">(console connection lost, retrying)</span>`}</h1>
    ${
    tiles.length === 0 &&
    html`<p class="muted">No station seen yet: no service answers, or no frames arrived.</p>`
  }
    <div class="tiles">${tiles.map((t) => html`<${Tile} key=${t.id} t=${t} />`)}</div>
  </section>`;
}
