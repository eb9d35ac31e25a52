// hack/test runs the chaos cases at the size that fits its time budget;
// hack/bench/chaos.sh runs the same cases HOLDFAST_CHAOS_SCALE times as large:
// more workspaces, kills and generated specs, and a longer outage.
export const SCALE = Math.max(1, Number(process.env.HOLDFAST_CHAOS_SCALE ?? 1) || 1);

export const scaled = (n: number): number => Math.round(n * SCALE);
