// parse-prometheus-text-format ships no types: its output is described here, as its README documents it.
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One metric family as the parser gives it (prom2json's shape): values stay strings. */
export interface Family {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

/**
 * A scrape, parsed by an independent parser of the Prometheus text format (not prom-client's own).
 * That parser folds a histogram's labelled series into one and drops their `_count` (it was written
 * for unlabelled ones), so the text is parsed a second time without the histograms' TYPE lines:
 * each `NAME_count{...}` is then read as an untyped sample of its own, with its labels.
 */
export class Scrape {
  readonly families: ReadonlyMap<string, Family>;
  readonly #samples: ReadonlyMap<string, Family>;

  constructor(readonly text: string) {
    this.families = byName(parsePrometheusTextFormat(text) as Family[]);
    this.#samples = byName(parsePrometheusTextFormat(text.replace(/^# TYPE \S+ histogram$/gm, "")) as Family[]);
  }

  family(name: string): Family {
    const family = this.families.get(name);
    if (!family) throw new Error(`the scrape has no metric ${name}; it has ${[...this.families.keys()].join(", ")}`);
    return family;
  }

  /** The value of the sample with exactly these labels (among others), or 0 when there is none yet (a counter never incremented). */
  value(name: string, labels: Record<string, string> = {}): number {
    const sample = this.family(name).metrics.find((metric) => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value));
    return sample?.value === undefined ? 0 : Number(sample.value);
  }

  /** A histogram's observation count for these labels (0 when it has no such series yet). */
  count(name: string, labels: Record<string, string> = {}): number {
    if (this.family(name).type !== "HISTOGRAM") throw new Error(`${name} is not a histogram`);
    const sample = this.#samples.get(`${name}_count`)?.metrics.find((metric) => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value));
    return sample?.value === undefined ? 0 : Number(sample.value);
  }
}

/** GETs /metrics (with `Authorization: Bearer <token>` when given) and parses it; throws on anything but 200. */
export async function scrape(httpBase: string, token?: string): Promise<Scrape> {
  const response = await fetch(`${httpBase}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
  return new Scrape(text);
}

/** The http:// base of a server's ws:// url. */
export function httpBase(wsUrl: string): string {
  return wsUrl.replace(/^ws/, "http");
}

/** Families by name; untyped ones that recur (one per histogram series) are merged. */
function byName(families: Family[]): ReadonlyMap<string, Family> {
  const map = new Map<string, Family>();
  for (const family of families) {
    const seen = map.get(family.name);
    if (seen) seen.metrics.push(...family.metrics);
    else map.set(family.name, family);
  }
  return map;
}
