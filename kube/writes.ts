// Counting API writes is how "nothing written at rest" is checked from
// outside. The library only needs something to count on; each program passes
// its own counter (the operator's prom-client `holdfast_api_writes_total`).
export interface WriteCounter {
  inc(labels: { kind: string; verb: string }): void;
}
