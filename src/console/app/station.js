// Station: the live frame with its heat map on the station's fixed scale, the last anomaly, the
// score timeline and the threshold histogram with a confirmed apply.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, fmt, frameUrl, useEvents } from "./api.js";
import { HeatFrame, Legend } from "./heat.js";
import { Histogram, Timeline } from "./charts.js";

const LIVE_FRAME_MS = 400;

/** The station's data, kept live: results, anomalies, tile, scale. */
export function useStation(station) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const load = () =>
    api(`/api/stations/${encodeURIComponent(station)}`).then(setData, (e) => setError(e.message));
  useEffect(() => {
    setData(null);
    load();
  }, [station]);
  useEvents(station, {
    result: (r) => setData((d) => d && { ...d, results: [...d.results.slice(-599), r] }),
    anomaly: (a) => setData((d) => d && { ...d, anomalies: [...d.anomalies.slice(-39), a] }),
    enroll: (job) => setData((d) => d && { ...d, enroll: job }),
    tiles: (tiles) => {
      const tile = tiles.find((t) => t.id === station);
      setData((d) => {
        if (!d) return d;
        // A new profile version (enrollment, feedback, rollback) brings a new heat scale: reload.
        if (tile && d.tile && tile.profileVersion !== d.tile.profileVersion) load();
        return { ...d, tile };
      });
    },
  });
  return { data, error, reload: load };
}

function liveItem(data) {
  const last = data.results.findLast((r) => r.score !== null) ?? data.results.at(-1);
  if (!last) return null;
  return data.anomalies.find((a) => a.frameId === last.frameId) ?? last;
}

function ThresholdTuner({ station, data, me, onApplied }) {
  const threshold = data.tile?.threshold ?? null;
  // Null follows the threshold in force (whatever version brings it); a drag or a key picks one.
  const [picked, setPicked] = useState(null);
  const candidate = picked ?? threshold ?? 0;
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState(null);
  const scored = data.results.filter((r) => r.score !== null);
  const now = scored.filter((r) => r.anomalous).length;
  const would = scored.filter((r) => r.score >= candidate).length;
  const apply = async () => {
    setConfirming(false);
    try {
      const reply = await api(`/api/stations/${encodeURIComponent(station)}/threshold`, {
        threshold: candidate,
      });
      setMessage(`Threshold of ${station} set from ${fmt(reply.previous)} to ${fmt(reply.threshold)}`);
      setPicked(null);
      onApplied();
    } catch (e) {
      setMessage(`Not applied: ${e.message}`);
    }
  };
  const operator = me.role === "operator";
  return html`<section class="panel" aria-label="threshold">
    <h2>Threshold</h2>
    <${Histogram} results=${data.results} threshold=${threshold} candidate=${candidate} onCandidate=${setPicked} />
    <p class="preview" aria-live="polite">At <strong class="candidate">${
    fmt(candidate)
  }</strong>${", "}${would} of the last ${scored.length} scored frames would have been flagged (now ${now} at ${
    fmt(threshold)
  }).</p>
    ${
    operator
      ? html`
        <button class="apply" disabled=${threshold === null || candidate === threshold}
          onClick=${() => setConfirming(true)}>Apply ${fmt(candidate)}…</button>
      `
      : html`<p class="muted viewer-note">Viewers can preview but not change the threshold.</p>`
  }
    ${
    confirming && html`
      <div class="confirm" role="alertdialog" aria-label="confirm threshold">
        <p>Set ${station}'s threshold from ${fmt(threshold)} to ${fmt(
          candidate,
        )}? The service applies it at once and
              saves it with the profile.</p>
        <button class="confirm-yes" onClick=${apply}>Set threshold</button>
        <button onClick=${() => setConfirming(false)}>Cancel</button>
      </div>
    `
  }
    ${message && html`<p class="message" role="status">${message}</p>`}
  </section>`;
}

function useThrottled(value, ms) {
  const [shown, setShown] = useState(value);
  const last = useRef(0);
  useEffect(() => {
    // The first frame shows at once; later ones at most every `ms`.
    const wait = shown === null ? 0 : Math.max(0, last.current + ms - Date.now());
    const t = setTimeout(() => {
      last.current = Date.now();
      setShown(value);
    }, wait);
    return () => clearTimeout(t);
  }, [value]);
  return shown;
}

/** The station page. */
export function StationPage({ station, me }) {
  const { data, error, reload } = useStation(station);
  const live = useThrottled(data ? liveItem(data) : null, LIVE_FRAME_MS);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="loading">Loading ${station}…</p>`;
  const lastAnomaly = data.anomalies.at(-1);
  const t = data.tile;
  return html`
    <section aria-label=${`station ${station}`}>
      <h1>${station} <span class=${`verdict-badge verdict-${t?.verdict}`}>${t?.verdict ?? ""}</span></h1>
      <p class="summary">score <strong class="score">${fmt(t?.score)}</strong>${" · threshold "}<strong
          class="threshold">${fmt(t?.threshold)}</strong>${` · ${
            t?.fps ?? 0
          } frames/s · profile `}${t?.profileVersion === null
            ? "none"
            : `v${t?.profileVersion}`} · ${t?.healthText ?? ""}</p>
      <div class="columns">
        <figure class="panel live">
          <figcaption>Live frame</figcaption>
          <${HeatFrame} src=${live && frameUrl(station, live.frameId)} item=${live} scale=${data
            .scale} label="live frame" />
        </figure>
        <figure class="panel last-anomaly">
          <figcaption>Last anomaly ${lastAnomaly ? `(${lastAnomaly.frameId})` : ""}</figcaption>
          <${HeatFrame} src=${lastAnomaly?.hasFrame !== false && lastAnomaly &&
            frameUrl(station, lastAnomaly.frameId)}
            item=${lastAnomaly} scale=${data.scale} label="last anomaly with heat map" />
          <${Legend} scale=${data.scale} />
        </figure>
      </div>
      <section class="panel">
        <h2>Scores</h2>
        <${Timeline} results=${data.results} threshold=${t?.threshold ?? null} />
      </section>
      <${ThresholdTuner} station=${station} data=${data} me=${me} onApplied=${reload} />
    </section>
  `;
}
