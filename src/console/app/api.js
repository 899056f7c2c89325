// The pages' calls to the console's API and its live feed.
import { useEffect, useRef } from "preact/hooks";

/** GETs or POSTs JSON; throws an Error carrying the server's sentence and status. */
export async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json", "x-adp-console": "1" },
    body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = new Error(data.error ?? `HTTP ${res.status}`);
    error.status = res.status;
    throw error;
  }
  return data;
}

/** POSTs raw bytes (an uploaded image). */
export async function upload(path, file) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": file.type || "application/octet-stream", "x-adp-console": "1" },
    body: file,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error ?? `HTTP ${res.status}`);
  return data;
}

/** Follows the server-sent events (tiles; and a station's results, anomalies, enrollment). */
export function useEvents(station, handlers) {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    const url = station ? `/api/events?station=${encodeURIComponent(station)}` : "/api/events";
    const source = new EventSource(url);
    for (const type of ["tiles", "result", "anomaly", "enroll"]) {
      source.addEventListener(type, (e) => ref.current[type]?.(JSON.parse(e.data)));
    }
    source.onerror = () => ref.current.error?.();
    source.onopen = () => ref.current.open?.();
    return () => source.close();
  }, [station]);
}

/** A frame's image URL. */
export function frameUrl(station, frameId) {
  return `/api/stations/${encodeURIComponent(station)}/frames/${encodeURIComponent(frameId)}`;
}

/** A number with two decimals, or a dash. */
export function fmt(v) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(2);
}
