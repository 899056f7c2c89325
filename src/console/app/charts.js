// The station page's charts: a timeline of scores with the threshold line, and a histogram of
// recent scores with a threshold to drag (preview of what would have been flagged).
import { useRef, useState } from "preact/hooks";
import { html } from "./html.js";

const W = 600, H = 160, PAD = 24;

function range(scores, threshold) {
  const lo = Math.min(0, ...scores), hi = Math.max(threshold * 2, ...scores, 1);
  return [lo, hi];
}

/** Scores over time, anomalous ones red, the threshold dashed. */
export function Timeline({ results, threshold }) {
  const scored = results.filter((r) => r.score !== null);
  if (!scored.length) return html`<p class="muted">No scored frame yet</p>`;
  const [lo, hi] = range(scored.map((r) => r.score), threshold ?? 0);
  const x = (i) => PAD + (i * (W - 2 * PAD)) / Math.max(1, scored.length - 1);
  const y = (v) => H - PAD - ((v - lo) * (H - 2 * PAD)) / (hi - lo);
  const points = scored.map((r, i) => `${x(i).toFixed(1)},${y(r.score).toFixed(1)}`).join(" ");
  return html`
    <svg class="chart" viewBox=${`0 0 ${W} ${H}`} role="img"
      aria-label=${`timeline of the last ${scored.length} scores`}>
        <polyline points=${points} fill="none" stroke="#74c0fc" stroke-width="1.5" />
        ${scored.map((r, i) =>
          r.anomalous && html`<circle cx=${x(i)} cy=${y(r.score)} r="3" fill="#ff6b6b" />`
        )}
        ${threshold !== null && html`
          <line x1=${PAD} x2=${W - PAD} y1=${y(threshold)} y2=${y(threshold)}
            stroke="#ffd43b" stroke-dasharray="6 4" />
          <text x=${W - PAD} y=${y(threshold) - 4} text-anchor="end" class="axis">threshold ${threshold
            .toFixed(2)}</text>
        `}
        <text x=${PAD} y=${H - 6} class="axis">older</text>
        <text x=${W - PAD} y=${H - 6} text-anchor="end" class="axis">now</text>
      </svg>
  `;
}

function bins(scores, lo, hi, n) {
  const counts = new Array(n).fill(0);
  for (const s of scores) counts[Math.min(n - 1, Math.max(0, Math.floor(((s - lo) / (hi - lo)) * n)))]++;
  return counts;
}

function useDrag(svg, toValue, onMove) {
  const [dragging, setDragging] = useState(false);
  const at = (e) => {
    const box = svg.current.getBoundingClientRect();
    onMove(toValue(((e.clientX - box.left) / box.width) * W));
  };
  return {
    onPointerDown: (e) => {
      setDragging(true);
      e.currentTarget.setPointerCapture?.(e.pointerId);
      at(e);
    },
    onPointerMove: (e) => dragging && at(e),
    onPointerUp: () => setDragging(false),
  };
}

/** Histogram of recent scores; the candidate threshold is dragged (or moved with arrow keys). */
export function Histogram({ results, threshold, candidate, onCandidate }) {
  const svg = useRef(null);
  const scores = results.filter((r) => r.score !== null).map((r) => r.score);
  const [lo, hi] = range(scores, threshold ?? 0);
  const x = (v) => PAD + ((v - lo) * (W - 2 * PAD)) / (hi - lo);
  const toValue = (px) => Math.min(hi, Math.max(lo, lo + ((px - PAD) * (hi - lo)) / (W - 2 * PAD)));
  const drag = useDrag(svg, toValue, onCandidate);
  const counts = bins(scores, lo, hi, 40), top = Math.max(1, ...counts);
  const bw = (W - 2 * PAD) / counts.length;
  const key = (e) => {
    const step = (hi - lo) / 100;
    if (e.key === "ArrowLeft") onCandidate(candidate - step);
    else if (e.key === "ArrowRight") onCandidate(candidate + step);
    else return;
    e.preventDefault();
  };
  return html`
    <svg ref=${svg} class="chart histogram" viewBox=${`0 0 ${W} ${H}`} ...${drag}
      role="slider" tabindex="0" aria-label="candidate threshold" aria-valuemin=${lo}
      aria-valuemax=${hi}
      aria-valuenow=${candidate} onKeyDown=${key}>
        ${counts.map((c, i) => {
          const mid = lo + ((i + 0.5) * (hi - lo)) / counts.length;
          const h = (c / top) * (H - 2 * PAD);
          return html`
            <rect x=${PAD + i * bw} y=${H - PAD - h} width=${bw - 1} height=${h}
              fill=${mid >= candidate ? "#ff8787" : "#74c0fc"} />
          `;
        })}
        ${threshold !== null &&
          html`<line x1=${x(threshold)} x2=${x(threshold)} y1=${PAD / 2} y2=${
            H - PAD
          } stroke="#adb5bd" stroke-dasharray="4 3" />`}
        <line class="handle" x1=${x(candidate)} x2=${x(candidate)} y1="4" y2=${H -
          PAD} stroke="#ffd43b" stroke-width="4" />
        <text x=${x(candidate) + 6} y="16" class="axis">${candidate.toFixed(2)}</text>
        <text x=${PAD} y=${H - 6} class="axis">${lo.toFixed(1)}</text>
        <text x=${W - PAD} y=${H - 6} text-anchor="end" class="axis">${hi.toFixed(1)}</text>
      </svg>
  `;
}
