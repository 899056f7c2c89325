// Heat maps on a station's fixed colour scale: the map's cells standardised with the profile's
// patch statistics, 0 transparent, the threshold at a fixed point, twice the threshold full red.
import { html } from "./html.js";
import { useEffect, useRef } from "preact/hooks";

/** Blue → cyan → yellow → red for t in [0, 1]. */
export function palette(t) {
  const c = (v) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** The map's cells in standardised units (null without a grid or a scale). */
export function standardCells(map, scale) {
  if (!map?.grid || !scale) return null;
  const bytes = Uint8Array.from(atob(map.grid.data), (c) => c.charCodeAt(0));
  const span = map.max - map.min;
  return Array.from(bytes, (b) => (map.min + (b / 255) * span - scale.patchMean) / scale.patchStd);
}

function heatLayer(map, scale) {
  const cells = standardCells(map, scale);
  if (!cells) return null;
  const { width, height } = map.grid;
  const layer = document.createElement("canvas");
  layer.width = width;
  layer.height = height;
  const ctx = layer.getContext("2d");
  const img = ctx.createImageData(width, height);
  cells.forEach((z, i) => {
    const t = Math.min(1, Math.max(0, z / scale.top));
    const [r, g, b] = palette(t);
    img.data.set([r, g, b, Math.round(255 * Math.min(0.7, t * 1.4))], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  return layer;
}

function drawLabel(ctx, text, colour, w) {
  ctx.font = `bold ${Math.round(w / 22)}px system-ui, sans-serif`;
  const pad = w / 80, h = w / 16;
  ctx.fillStyle = "rgba(0,0,0,0.65)";
  ctx.fillRect(0, 0, ctx.measureText(text).width + 2 * pad, h);
  ctx.fillStyle = colour;
  ctx.fillText(text, pad, h * 0.75);
}

/** Draws the frame, the heat layer, the region boxes and the score onto `canvas`. */
function paint(canvas, image, item, scale) {
  const w = item?.frameWidth ?? image.naturalWidth, h = item?.frameHeight ?? image.naturalHeight;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0, w, h);
  const layer = item?.map ? heatLayer(item.map, scale) : null;
  if (layer) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(layer, 0, 0, w, h);
  }
  ctx.lineWidth = Math.max(2, w / 200);
  ctx.strokeStyle = "#fff";
  for (const r of item?.map?.regions ?? []) ctx.strokeRect(r.x, r.y, r.width, r.height);
  if (item && item.score !== null && item.score !== undefined) {
    const bad = item.anomalous;
    const text = `${bad ? "ANOMALOUS" : "ok"}  score ${item.score.toFixed(2)} ${bad ? "≥" : "<"} ${
      (item.threshold ?? 0).toFixed(2)
    }`;
    drawLabel(ctx, text, bad ? "#ff6b6b" : "#8ce99a", w);
  }
}

/** A frame with its heat map burned in (when `item` has a map and the scale is known). */
export function HeatFrame({ src, item, scale, label }) {
  const canvas = useRef(null);
  useEffect(() => {
    if (!src) return;
    const image = new Image();
    image.onload = () => canvas.current && paint(canvas.current, image, item, scale);
    image.src = src;
  }, [src, item, scale]);
  if (!src) return html`<div class="frame empty">No frame held</div>`;
  return html`
    <canvas class="frame" ref=${canvas} role="img" aria-label=${label ?? "frame"}
      data-score=${item?.score ?? ""} data-has-heat=${item?.map?.grid && scale ? "yes" : "no"}></canvas>
  `;
}

/** The scale's legend: the palette from 0 to twice the threshold, the threshold marked. */
export function Legend({ scale }) {
  if (!scale) return html`<p class="muted">Heat scale unknown until the station's profile is read</p>`;
  const stops = Array.from({ length: 11 }, (_, i) => {
    const [r, g, b] = palette(i / 10);
    return `rgb(${r},${g},${b}) ${i * 10}%`;
  }).join(", ");
  // A threshold below a typical good part (everything flagged) sits at the scale's start.
  const at = Math.min(100, Math.max(0, (100 * scale.threshold) / scale.top));
  return html`
    <figure class="legend" aria-label="heat-map colour scale">
      <div class="bar" style=${`background: linear-gradient(to right, ${stops})`}>
        <span class="tick" style=${`left: ${at}%`}></span>
      </div>
      <figcaption>
        <span>0 (typical good part)</span>
        <span style=${`left: ${at}%; transform: translateX(-${at}%)`} class="mark">threshold ${scale.threshold
          .toFixed(2)}</span>
        <span>${scale.top.toFixed(2)}+</span>
      </figcaption>
      <p class="muted">Fixed for profile v${scale
        .profileVersion}: every frame of the station uses this scale.</p>
    </figure>
  `;
}
