declare module "parse-prometheus-text-format" {
  /** Parses Prometheus text exposition into prom2json-shaped families (see test/support/prometheus.ts). */
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
