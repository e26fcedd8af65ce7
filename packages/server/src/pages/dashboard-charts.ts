/**
 * The dashboard's live charts: grants per second, waiters, sessions and request latency (p50, p99),
 * from the same figures as /metrics, which the page fetches from its own origin every POLL_MS (with
 * the page's admin token as `Authorization: Bearer`, when it has one). Drawn as plain SVG polylines:
 * no chart library, nothing loaded from elsewhere, nothing inline for the CSP to refuse.
 */

/** How often /metrics is read. */
const POLL_MS = 2_000;
/** Points kept per chart: five minutes at POLL_MS. */
const KEPT = 150;
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 80;

/** One chart: its series (one line each) and where it is drawn. */
interface Chart {
  readonly figure: HTMLElement;
  readonly svg: SVGSVGElement;
  readonly caption: HTMLElement;
  readonly title: string;
  readonly series: { label: string; colour: string; points: number[] }[];
  readonly format: (value: number) => string;
}

/** Starts polling /metrics and drawing the charts into `container`; returns what stops it. */
export function startCharts(container: HTMLElement, token: string | undefined, onError: (text: string) => void): () => void {
  const charts = {
    grants: makeChart(container, "chart-grants", "grants / s", [{ label: "grants/s", colour: "#2b6cb0" }], (v) => v.toFixed(1)),
    waiters: makeChart(container, "chart-waiters", "waiters", [{ label: "waiters", colour: "#c05621" }], (v) => String(Math.round(v))),
    sessions: makeChart(container, "chart-sessions", "sessions", [{ label: "sessions", colour: "#2f855a" }], (v) => String(Math.round(v))),
    latency: makeChart(container, "chart-latency", "request latency", [
      { label: "p50", colour: "#6b46c1" },
      { label: "p99", colour: "#b83280" },
    ], formatSeconds),
  };
  let previous: Sample | undefined;
  const poll = async (): Promise<void> => {
    let text: string;
    try {
      // Relative: the page's own origin, the only place its token may go (connect-src 'self' says the same).
      const response = await fetch("/metrics", { headers: token === undefined ? {} : { authorization: "Bearer " + token }, cache: "no-store" });
      text = await response.text();
      if (!response.ok) {
        onError("charts: /metrics answered " + response.status + ": " + text.trim());
        return;
      }
    } catch (error) {
      onError("charts: /metrics could not be read: " + (error instanceof Error ? error.message : String(error)));
      return;
    }
    const sample = readSample(text, performance.now());
    if (previous) {
      const seconds = (sample.at - previous.at) / 1_000;
      push(charts.grants, [(sample.grants - previous.grants) / seconds]);
      const window = subtractBuckets(sample.latency, previous.latency);
      push(charts.latency, [quantile(window, 0.5), quantile(window, 0.99)]);
    }
    push(charts.waiters, [sample.waiters]);
    push(charts.sessions, [sample.sessions]);
    previous = sample;
  };
  void poll();
  const timer = setInterval(() => void poll(), POLL_MS);
  return () => clearInterval(timer);
}

/** What one scrape says, summed over labels: counters as totals, latency as cumulative buckets by bound. */
interface Sample {
  at: number;
  grants: number;
  waiters: number;
  sessions: number;
  latency: Map<number, number>;
}

/**
 * Reads the few series the charts need out of the Prometheus text (one `name{labels} value` a line);
 * anything else is skipped. Grants are immediate grants plus waits that ended granted.
 */
export function readSample(text: string, at: number): Sample {
  const sample: Sample = { at, grants: 0, waiters: 0, sessions: 0, latency: new Map() };
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const [, name, labels = "", raw] = match;
    const value = Number(raw);
    if (name === "leasehold_lock_acquires_total" && labels.includes('outcome="granted"')) sample.grants += value;
    else if (name === "leasehold_lock_wait_seconds_count" && labels.includes('outcome="granted"')) sample.grants += value;
    else if (name === "leasehold_lock_waiters") sample.waiters += value;
    else if (name === "leasehold_sessions") sample.sessions += value;
    else if (name === "leasehold_request_duration_seconds_bucket") {
      const bound = /le="([^"]+)"/.exec(labels)?.[1];
      if (bound === undefined) continue;
      const le = bound === "+Inf" ? Infinity : Number(bound);
      sample.latency.set(le, (sample.latency.get(le) ?? 0) + value);
    }
  }
  return sample;
}

/** The requests of the last interval: this scrape's cumulative buckets less the previous one's. */
function subtractBuckets(now: Map<number, number>, before: Map<number, number>): [number, number][] {
  return [...now.entries()].map(([le, count]): [number, number] => [le, count - (before.get(le) ?? 0)]).sort((a, b) => a[0] - b[0]);
}

/** The bound of the bucket where the quantile falls (as Prometheus's histogram_quantile, without interpolation); NaN with no requests. */
function quantile(buckets: [number, number][], q: number): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  let lastFinite = 0;
  for (const [le, count] of buckets) {
    if (le !== Infinity) lastFinite = le;
    if (count >= q * total) return le === Infinity ? lastFinite : le;
  }
  return lastFinite;
}

function makeChart(container: HTMLElement, id: string, title: string, series: { label: string; colour: string }[], format: (value: number) => string): Chart {
  const figure = document.createElement("figure");
  figure.id = id;
  figure.className = "chart";
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 " + WIDTH + " " + HEIGHT);
  svg.setAttribute("width", String(WIDTH));
  svg.setAttribute("height", String(HEIGHT));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const caption = document.createElement("figcaption");
  caption.textContent = title + ": waiting for figures…";
  figure.append(svg, caption);
  container.append(figure);
  return { figure, svg, caption, title, series: series.map((s) => ({ ...s, points: [] })), format };
}

function push(chart: Chart, values: number[]): void {
  chart.series.forEach((series, index) => {
    series.points.push(values[index] ?? Number.NaN);
    if (series.points.length > KEPT) series.points.shift();
  });
  draw(chart);
}

/** Redraws a chart: one polyline per series over the points kept, scaled to the largest value shown. */
function draw(chart: Chart): void {
  let top = 0;
  for (const series of chart.series) for (const value of series.points) if (Number.isFinite(value)) top = Math.max(top, value);
  const scale = top > 0 ? (HEIGHT - 4) / top : 0;
  const step = WIDTH / (KEPT - 1);
  const lines: SVGElement[] = [];
  for (const series of chart.series) {
    const offset = KEPT - series.points.length;
    const coordinates = series.points
      .map((value, index) => (Number.isFinite(value) ? ((offset + index) * step).toFixed(1) + "," + (HEIGHT - 2 - value * scale).toFixed(1) : ""))
      .filter((point) => point !== "");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coordinates.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", series.colour);
    line.setAttribute("stroke-width", "1.5");
    line.dataset.series = series.label;
    line.dataset.count = String(coordinates.length);
    lines.push(line);
  }
  chart.svg.replaceChildren(...lines);
  const now = chart.series.map((series) => series.label + " " + formatLast(series.points, chart.format)).join(" · ");
  chart.caption.textContent = chart.title + ": " + now + " (top of scale " + chart.format(top) + ")";
}

function formatLast(points: number[], format: (value: number) => string): string {
  const last = points.at(-1);
  return last === undefined || !Number.isFinite(last) ? "–" : format(last);
}

function formatSeconds(seconds: number): string {
  if (seconds < 0.001) return Math.round(seconds * 1_000_000) + " µs";
  if (seconds < 1) return (seconds * 1_000).toFixed(1) + " ms";
  return seconds.toFixed(2) + " s";
}
