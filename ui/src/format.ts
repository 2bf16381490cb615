// How times, durations, counts and money read in the UI.

export function duration(nanos: bigint | number): string {
  const ns = Number(nanos);
  if (ns < 1e3) return `${ns} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function time(nanos: bigint | number): string {
  const date = new Date(Number(BigInt(nanos) / 1_000_000n));
  return date.toLocaleString(undefined, { hour12: false });
}

export function count(n: bigint | number): string {
  return Number(n).toLocaleString();
}

// A cost never reads $0 for calls whose model has no price: those are counted as unpriced.
export function usd(amount: number, unpriced = 0): string {
  if (amount === 0 && unpriced) return `unpriced (${unpriced})`;
  const text = amount < 0.01 ? `$${amount.toFixed(4)}` : `$${amount.toFixed(2)}`;
  return unpriced ? `${text} + ${unpriced} unpriced` : text;
}

export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
