// The console's shell: login, navigation (hash routes) and the pages.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api } from "./api.js";
import { StationsPage } from "./stations.js";
import { StationPage } from "./station.js";
import { TeachPage } from "./teach.js";
import { ReviewPage } from "./review.js";

function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function Login({ onLogin }) {
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      onLogin(await api("/api/login", { user: form.get("user"), password: form.get("password") }));
    } catch (err) {
      setError(err.message);
    }
  };
  return html`
    <main class="login">
      <h1>ADP Edge console</h1>
      <form onSubmit=${submit}>
          <label>User <input name="user" autocomplete="username" required autofocus /></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
          <button type="submit">Log in</button>
          ${error && html`<p class="error" role="alert">${error}</p>`}
        </form>
    </main>
  `;
}

function Nav({ me, station, page, onLogout }) {
  const link = (name, href, label) =>
    html`<a href=${href} aria-current=${page === name ? "page" : undefined}>${label}</a>`;
  return html`
    <header class="top">
      <strong class="brand">ADP Edge</strong>
      <nav aria-label="pages">
          ${link("stations", "#/stations", "Stations")}
          ${station && link("station", `#/station/${encodeURIComponent(station)}`, `Station ${station}`)}
          ${station && link("teach", `#/teach/${encodeURIComponent(station)}`, "Teach")}
          ${station && link("review", `#/review/${encodeURIComponent(station)}`, "Review")}
        </nav>
      <span class="me">${me.user} (${me.role})</span>
      <button class="link" onClick=${onLogout}>Log out</button>
    </header>
  `;
}

function App() {
  const [me, setMe] = useState(undefined);
  const route = useRoute();
  useEffect(() => {
    api("/api/me").then(setMe, () => setMe(null));
  }, []);
  if (me === undefined) return html`<p class="loading">Loading…</p>`;
  if (me === null) return html`<${Login} onLogin=${setMe} />`;
  const [page = "stations", station] = route;
  const logout = async () => {
    await api("/api/logout", {}).catch(() => {});
    setMe(null);
  };
  const pages = { station: StationPage, teach: TeachPage, review: ReviewPage };
  const Page = station && pages[page] ? pages[page] : StationsPage;
  return html`
    <${Nav} me=${me} station=${station} page=${station ? page : "stations"} onLogout=${logout} />
    <main>
      <${Page} station=${station} me=${me} />
    </main>
  `;
}

render(html`<${App} />`, document.getElementById("root"));
