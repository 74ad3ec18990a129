/**
 * ┌──────────────────────────────────────────────────────────────────────────────────────────────────────────────┐
 * │ SLOT — case 4: the drill's tool time during a rehearsed Streampixel drill. Another engineer fills this in.    │
 * └──────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
 *
 * Contract (same as every case; see bench/README.md): an async function taking `{ quick, log }` that resolves
 * with `{ id, title, target, rows, pass, info?, notes? }`, where each row is
 * `{ measure, median, p90, min, n, target, pass }` (pass `undefined` for an informational row), or with
 * `{ id, title, skipped: '<why>' }`. Measure side by side with bench/lib/measure.mjs `interleave()` (rotating
 * order, warm-up rounds discarded), report medians and p90, and keep the case under ~20 s (`quick`: ~5 s).
 *
 * Intended measure: during `rekey drill` of the Streampixel runbook against a local Streampixel stand-in, with the
 * human steps answered at once (an answers file), the time rekey itself spends (timeline: machine time, `█ rekey`)
 * against the provider round trips it makes, and the time between a human answer and the next prompt.
 */
export async function drillToolTime() {
  return {
    id: 'drill',
    title: "Drill: rekey's own time during a rehearsed Streampixel drill",
    skipped: 'slot not filled in yet (bench/cases/drill.mjs)',
  };
}
