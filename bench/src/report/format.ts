/** Number formatting for the report: few significant digits, thousands separated, NaN as a dash. */

export function num(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (value === 0) return "0";
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const magnitude = Math.abs(value);
  if (magnitude >= 1_000) return Math.round(value).toLocaleString("en-US");
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(magnitude)));
  return value.toFixed(Math.min(decimals, 4));
}

export function ms(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : `${num(value)} ms`;
}

export function us(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : `${num(value)} µs`;
}

export function ratio(value: number | undefined): string {
  if (value === Number.POSITIVE_INFINITY) return "∞";
  return value === undefined || !Number.isFinite(value) ? "–" : `${num(value)}×`;
}

export function pct(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : `${num(value * 100, 4)} %`;
}

export function bytes(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1_048_576) return `${num(value / 1_048_576)} MiB`;
  if (Math.abs(value) >= 1_024) return `${num(value / 1_024)} KiB`;
  return `${Math.round(value)} B`;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
