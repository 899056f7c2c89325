// Teach: pick good parts from the recent frames (or upload), enroll, follow the job, compare.
import { useState } from "preact/hooks";
import { html } from "./html.js";
import { api, fmt, frameUrl, upload } from "./api.js";
import { useStation } from "./station.js";

function Progress({ job }) {
  if (!job) return null;
  const p = job.progress;
  const eta = p?.etaSeconds === null || p?.etaSeconds === undefined
    ? ""
    : ` · about ${Math.ceil(p.etaSeconds)} s left`;
  const failed = job.error || p?.error;
  return html`<section class="panel enroll-progress" aria-label="enrollment progress">
    <h2>Enrollment ${job.running ? "running" : failed ? "failed" : "done"}</h2>
    <progress max="100" value=${p?.percent ?? 0}></progress>
    <p class="stage">${p ? `${p.stage} · ${Math.round(p.percent)}%${eta}` : "waiting for the service…"}</p>
    <p class="muted">${p?.message ?? ""}</p>
    ${failed && html`<p class="error" role="alert">${failed}</p>`}
    ${p?.profileVersion && html`<p class="done">Profile v${p.profileVersion} is live.</p>`}
  </section>`;
}

function verdictsByVersion(results) {
  const by = new Map();
  for (const r of results) {
    if (r.score === null || r.profileVersion === null) continue;
    const v = by.get(r.profileVersion) ?? { n: 0, flagged: 0, sum: 0 };
    v.n++;
    v.flagged += r.anomalous ? 1 : 0;
    v.sum += r.score;
    by.set(r.profileVersion, v);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

function Compare({ results }) {
  const rows = verdictsByVersion(results);
  return html`
    <section class="panel" aria-label="compare versions">
      <h2>Versions on recent frames</h2>
      <table>
        <thead>
          <tr>
            <th>profile</th>
            <th>frames</th>
            <th>flagged</th>
            <th>mean score</th>
          </tr>
        </thead>
        <tbody>${rows.map(([v, s]) =>
          html`
            <tr>
              <td>v${v}</td>
              <td>${s.n}</td>
              <td>${s.flagged}</td>
              <td>${fmt(s.sum / s.n)}</td>
            </tr>
          `
        )}</tbody>
      </table>
      <p class="muted">The service scores with the live profile only (no endpoint scores frames with a candidate
          before it goes live), so this compares each version on the frames it scored while in force.</p>
    </section>
  `;
}

/** The teach page. */
export function TeachPage({ station, me }) {
  const { data, error, reload } = useStation(station);
  const [picked, setPicked] = useState([]);
  const [message, setMessage] = useState(null);
  const [steps, setSteps] = useState("");
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="loading">Loading ${station}…</p>`;
  const operator = me.role === "operator";
  const toggle = (id) => setPicked((p) => p.includes(id) ? p.filter((x) => x !== id) : [...p, id].slice(-16));
  const onUpload = async (e) => {
    for (const file of e.target.files) {
      const { frameId } = await upload(`/api/stations/${encodeURIComponent(station)}/upload`, file);
      setPicked((p) => [...p, frameId].slice(-16));
    }
    setTimeout(reload, 500);
  };
  const start = async () => {
    try {
      const body = { frameIds: picked, ...(steps ? { steps: Number(steps) } : {}) };
      await api(`/api/stations/${encodeURIComponent(station)}/enroll`, body);
      setMessage(null);
    } catch (e) {
      setMessage(e.message);
    }
  };
  return html`<section aria-label=${`teach ${station}`}>
    <h1>Teach ${station}</h1>
    <p>Pick 1–16 good parts from the frames the camera sent${operator ? ", or upload images" : ""}.
      Picked: <strong class="picked-count">${picked.length}</strong>.</p>
    <div class="shots">${
    data.recentFrames.map((id) =>
      html`
        <button class=${`shot ${picked.includes(id) ? "picked" : ""}`} aria-pressed=${picked.includes(id)}
          onClick=${() => toggle(id)} data-frame=${id}><img src=${frameUrl(
            station,
            id,
          )} alt=${`frame ${id}`} />
                <span>${id}</span></button>
      `
    )
  }</div>
    ${
    operator
      ? html`<p><label>Upload <input type="file" accept="image/png,image/jpeg" multiple onChange=${onUpload} /></label>
      <label>Steps per concept <input class="steps" type="number" min="1" max="1000" value=${steps}
        placeholder="service default" onInput=${(e) => setSteps(e.target.value)} /></label>
      <button class="start-enroll" disabled=${!picked.length || data.enroll?.running} onClick=${start}>
        Enroll from ${picked.length} shot(s)</button></p>`
      : html`<p class="muted">Viewers cannot start an enrollment.</p>`
  }
    ${message && html`<p class="error" role="alert">${message}</p>`}
    <${Progress} job=${data.enroll} />
    <${Compare} results=${data.results} />
  </section>`;
}
