// A station's profile history (adp.svc.profiles.history): every kept version, what made it, its
// threshold, the one in force; operators roll back to a kept version after a confirmation.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, fmt } from "./api.js";

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

function what(revision) {
  if (!revision) return "–";
  const from = revision.fromVersion ? ` from v${revision.fromVersion}` : "";
  const label = revision.label ? ` (${revision.label}${revision.frameId ? ` ${revision.frameId}` : ""})` : "";
  return `${revision.kind}${label}${from}`;
}

function Row({ v, operator, onRollback }) {
  return html`
    <tr class=${v.inForce ? "in-force" : ""} data-version=${v.version}>
      <td>v${v.version}</td>
      <td class="kind">${what(v.revision)}</td>
      <td>${v.revision?.by ?? "–"}</td>
      <td>${when(v.createdAt)}</td>
      <td>${fmt(v.calibration.threshold)}</td>
      <td class="state">${v.inForce
        ? "in force"
        : v.rollbacks.length
        ? `rolled back to ×${v.rollbacks.length}`
        : ""}</td>
      <td>${operator && !v.inForce &&
        html`<button class="rollback" onClick=${() =>
          onRollback(v.version)}>Roll back to v${v.version}…</button>`}</td>
    </tr>
  `;
}

/** The history table; `version` (the tile's version in force) reloads it when it changes. */
export function History({ station, version, operator }) {
  const [history, setHistory] = useState(null);
  const [error, setError] = useState(null);
  const [confirming, setConfirming] = useState(null);
  const [message, setMessage] = useState(null);
  const path = `/api/stations/${encodeURIComponent(station)}`;
  const load = () => api(`${path}/history`).then(setHistory, (e) => setError(e.message));
  useEffect(() => {
    load();
  }, [station, version]);
  const rollback = async () => {
    const target = confirming;
    setConfirming(null);
    try {
      const r = await api(`${path}/rollback`, { version: target });
      setMessage(`v${r.version} is in force again (was v${r.previous ?? "none"})`);
      load();
    } catch (e) {
      setMessage(`Not rolled back: ${e.message}`);
    }
  };
  if (error) return html`<p class="error">History unavailable: ${error}</p>`;
  if (!history) return html`<p class="loading">Loading the history…</p>`;
  return html`<section class="panel history" aria-label="profile history">
    <h2>Profile history <span class="muted">(in force: <strong class="in-force-version">${
    history.inForce === null ? "none" : `v${history.inForce}`
  }</strong>)</span></h2>
    <table>
      <thead><tr><th>version</th><th>made by</th><th>who</th><th>when</th><th>threshold</th><th></th><th></th></tr></thead>
      <tbody>${
    history.versions.map((v) =>
      html`<${Row} key=${v.version} v=${v} operator=${operator} onRollback=${setConfirming} />`
    )
  }</tbody>
    </table>
    ${
    confirming !== null && html`
      <div class="confirm" role="alertdialog" aria-label="confirm rollback">
        <p>Put v${confirming} of ${station} back in force over v${history
          .inForce}? The service swaps it in at once;
              no version is deleted.</p>
        <button class="confirm-yes" onClick=${rollback}>Roll back to v${confirming}</button>
        <button onClick=${() => setConfirming(null)}>Cancel</button>
      </div>
    `
  }
    ${message && html`<p class="message history-message" role="status">${message}</p>`}
  </section>`;
}
