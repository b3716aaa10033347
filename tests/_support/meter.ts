/**
 * A recording OpenTelemetry meter provider, installed as the global one, so tests can see
 * what a component counts without an SDK.
 */
import { type Attributes, type MeterProvider, metrics } from "@opentelemetry/api";

/** One `add` on a counter. */
export interface Recorded {
  /** Instrument name. */
  name: string;
  /** Added value. */
  value: number;
  /** Attributes. */
  attributes: Attributes;
}

/** Everything counted since {@link recordMetrics} was first called. */
export const recorded: Recorded[] = [];

let installed = false;

/**
 * Installs the recording provider, once per process (Bun runs every test file in one
 * process, and the OpenTelemetry API accepts one global provider).
 */
export function recordMetrics(): Recorded[] {
  if (installed) return recorded;
  installed = true;
  const instrument = (name: string) => ({
    add(value: number, attributes: Attributes = {}) {
      recorded.push({ name, value, attributes });
    },
    record(value: number, attributes: Attributes = {}) {
      recorded.push({ name, value, attributes });
    },
    addCallback() {},
    removeCallback() {},
  });
  const meter = {
    createCounter: instrument,
    createUpDownCounter: instrument,
    createHistogram: instrument,
    createGauge: instrument,
    createObservableGauge: instrument,
    createObservableCounter: instrument,
    createObservableUpDownCounter: instrument,
    addBatchObservableCallback() {},
    removeBatchObservableCallback() {},
  };
  const provider = { getMeter: () => meter } as unknown as MeterProvider;
  metrics.disable();
  metrics.setGlobalMeterProvider(provider);
  return recorded;
}

/** Sums of everything recorded after `since` (an index into {@link recorded}), by `name {attributes}`. */
export function totals(since = 0): Map<string, number> {
  const sums = new Map<string, number>();
  for (const { name, value, attributes } of recorded.slice(since)) {
    const key = `${name} ${JSON.stringify(attributes)}`;
    sums.set(key, (sums.get(key) ?? 0) + value);
  }
  return sums;
}
