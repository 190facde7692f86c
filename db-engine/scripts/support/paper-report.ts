/**
 * bench-paper's figures: per-run records, medians over repeated runs, the ratios and goals of issue 8,
 * and the Markdown page (`docs/benchmarks.md`) rendered from the same JSON that goes to
 * `docs/benchmarks.json`. Pure: no I/O, no clock.
 */
import type { LagAtRate } from './paper-lag.js';
import type { SysbenchResult } from './paper-sysbench.js';
import type { IoCounters } from './paper-target.js';

/** The paper's Table 1 figure for Aurora: I/Os per transaction at the database node. */
export const PAPER_AURORA_IOS_PER_TXN = 0.95;
/** Table 1, 2/3 and the goals are read at this many connections. */
export const IO_THREADS = 32;

export interface RunRecord {
  readonly threads: number;
  /** The machine's 1-minute load average when the run ended: how much else was running. */
  readonly loadAverage1mAfter: number;
  readonly sysbench: SysbenchResult;
  readonly counters: IoCounters;
  readonly perTxn: PerTxn;
}

export interface PerTxn {
  /** networkMessages + fsyncs: the paper's I/Os at the database node. */
  readonly ios: number;
  readonly networkMessages: number;
  readonly networkBytes: number;
  /** networkBytes / durable copies reached over the network. */
  readonly bytesPerDurableCopy: number;
  readonly fsyncs: number;
  readonly extra: Readonly<Record<string, number>>;
}

export function perTxn(counters: IoCounters, transactions: number, durableCopies: number): PerTxn {
  const per = (value: number) => (transactions > 0 ? value / transactions : Number.NaN);
  return {
    ios: per(counters.networkMessages + counters.fsyncs),
    networkMessages: per(counters.networkMessages),
    networkBytes: per(counters.networkBytes),
    bytesPerDurableCopy: per(counters.networkBytes / durableCopies),
    fsyncs: per(counters.fsyncs),
    extra: Object.fromEntries(Object.entries(counters.extra).map(([key, value]) => [key, per(value)])),
  };
}

/** Medians over the runs at one connection count; each figure's median is taken on its own. */
export interface Summary {
  readonly runs: number;
  readonly transactionsPerSec: number;
  readonly writesPerSec: number;
  /** Every run's writes/s, to show the spread. */
  readonly writesPerSecRuns: readonly number[];
  readonly latencyAvgMs: number;
  readonly latencyP95Ms: number;
  readonly ignoredErrorsPerSec: number;
  readonly iosPerTxn: number;
  readonly iosPerTxnRuns: readonly number[];
  readonly networkMessagesPerTxn: number;
  readonly networkBytesPerTxn: number;
  readonly bytesPerDurableCopyPerTxn: number;
  readonly fsyncsPerTxn: number;
  readonly extraPerTxn: Readonly<Record<string, number>>;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summarize(runs: readonly RunRecord[]): Summary {
  const of = (pick: (run: RunRecord) => number) => median(runs.map(pick));
  const extraKeys = [...new Set(runs.flatMap((run) => Object.keys(run.perTxn.extra)))];
  return {
    runs: runs.length,
    transactionsPerSec: of((run) => run.sysbench.transactionsPerSec),
    writesPerSec: of((run) => run.sysbench.writesPerSec),
    writesPerSecRuns: runs.map((run) => round(run.sysbench.writesPerSec, 0)),
    latencyAvgMs: of((run) => run.sysbench.latencyAvgMs),
    latencyP95Ms: of((run) => run.sysbench.latencyP95Ms),
    ignoredErrorsPerSec: of((run) => run.sysbench.ignoredErrors / run.sysbench.timeS),
    iosPerTxn: of((run) => run.perTxn.ios),
    iosPerTxnRuns: runs.map((run) => round(run.perTxn.ios, 3)),
    networkMessagesPerTxn: of((run) => run.perTxn.networkMessages),
    networkBytesPerTxn: of((run) => run.perTxn.networkBytes),
    bytesPerDurableCopyPerTxn: of((run) => run.perTxn.bytesPerDurableCopy),
    fsyncsPerTxn: of((run) => run.perTxn.fsyncs),
    extraPerTxn: Object.fromEntries(
      extraKeys.map((key) => [key, of((run) => run.perTxn.extra[key] ?? Number.NaN)]),
    ),
  };
}

export interface LagSummary {
  readonly targetWritesPerSec: number;
  /** sysbench's writes/s achieved, plus the probe's inserts/s. */
  readonly sysbenchWritesPerSec: number;
  readonly probeWritesPerSec: number;
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly samples: number;
  readonly unseen: number;
  readonly pollIntervalMsMean: number;
}

export function summarizeLag(result: LagAtRate): LagSummary {
  return {
    targetWritesPerSec: result.targetWritesPerSec,
    sysbenchWritesPerSec: round(result.sysbench.writesPerSec, 0),
    probeWritesPerSec: round(result.probe.achievedRate, 0),
    lagP50Ms: round(result.probe.lagP50Ms, 2),
    lagP99Ms: round(result.probe.lagP99Ms, 2),
    lagMaxMs: round(result.probe.lagMaxMs, 2),
    samples: result.probe.samples,
    unseen: result.probe.unseen,
    pollIntervalMsMean: round(result.probe.pollIntervalMsMean, 3),
  };
}

/** One system's results, or why it was not measured. */
export type SideReport =
  | {
      readonly measured: true;
      readonly description: string;
      readonly version: string;
      readonly durableCopiesOverNetwork: number;
      readonly counterSources: Readonly<Record<string, string>>;
      /** Table 1: the figures at IO_THREADS connections (null when that count was not run). */
      readonly iosPerTxn32: number | null;
      readonly networkBytesPerTxn32: number | null;
      readonly writesPerSec32: number | null;
      readonly byConnections: Readonly<Record<string, Summary>>;
      readonly lag: readonly LagSummary[];
      readonly runs: readonly RunRecord[];
    }
  | {
      readonly measured: false;
      /** Always null when not measured; present so that readers find the key. */
      readonly iosPerTxn32: null;
      readonly reason: { readonly code: string; readonly message: string; readonly missing?: string };
    };

export function sideReport(
  target: {
    description: string;
    durableCopiesOverNetwork: number;
    counterSources: Readonly<Record<string, string>>;
  },
  version: string,
  runs: readonly RunRecord[],
  lag: readonly LagAtRate[],
): SideReport {
  const threadCounts = [...new Set(runs.map((run) => run.threads))].sort((a, b) => a - b);
  const byConnections = Object.fromEntries(
    threadCounts.map((threads) => [
      String(threads),
      roundSummary(summarize(runs.filter((run) => run.threads === threads))),
    ]),
  );
  const at32 = byConnections[String(IO_THREADS)];
  return {
    measured: true,
    description: target.description,
    version,
    durableCopiesOverNetwork: target.durableCopiesOverNetwork,
    counterSources: target.counterSources,
    iosPerTxn32: at32?.iosPerTxn ?? null,
    networkBytesPerTxn32: at32?.networkBytesPerTxn ?? null,
    writesPerSec32: at32?.writesPerSec ?? null,
    byConnections,
    lag: lag.map(summarizeLag),
    runs,
  };
}

export interface Goal {
  readonly goal: string;
  readonly figure: number | null;
  readonly threshold: number | null;
  /** null: not measured (a side is missing). */
  readonly pass: boolean | null;
}

export interface Ratios {
  readonly iosPerTxnPostgresMirroredOverNorthlight: number | null;
  readonly bytesPerTxnPostgresMirroredOverNorthlight: number | null;
  readonly writesPerSecNorthlightOverPostgresSync32: number | null;
  readonly writesPerSecNorthlightOverPostgresSyncByConnections: Readonly<Record<string, number>>;
}

export function ratiosAndGoals(
  postgres: SideReport | null,
  northlight: SideReport | null,
): { ratios: Ratios; goals: Goal[] } {
  const pg = postgres?.measured === true ? postgres : undefined;
  const nl = northlight?.measured === true ? northlight : undefined;
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? null : round(a / b, 3);
  const byConnections: Record<string, number> = {};
  for (const key of Object.keys(nl?.byConnections ?? {})) {
    const value = ratio(nl?.byConnections[key]?.writesPerSec, pg?.byConnections[key]?.writesPerSec);
    if (value !== null) byConnections[key] = value;
  }
  const compare = (
    figure: number | null | undefined,
    threshold: number | null | undefined,
    ok: (a: number, b: number) => boolean,
  ) => ({
    figure: figure ?? null,
    threshold: threshold ?? null,
    pass:
      figure === null || figure === undefined || threshold === null || threshold === undefined
        ? null
        : ok(figure, threshold),
  });
  return {
    ratios: {
      iosPerTxnPostgresMirroredOverNorthlight: ratio(pg?.iosPerTxn32, nl?.iosPerTxn32),
      bytesPerTxnPostgresMirroredOverNorthlight: ratio(pg?.networkBytesPerTxn32, nl?.networkBytesPerTxn32),
      writesPerSecNorthlightOverPostgresSync32: ratio(nl?.writesPerSec32, pg?.writesPerSec32),
      writesPerSecNorthlightOverPostgresSyncByConnections: byConnections,
    },
    goals: [
      {
        goal: `northlight I/Os per transaction at ${IO_THREADS} connections <= ${PAPER_AURORA_IOS_PER_TXN} (the paper's Aurora figure)`,
        ...compare(nl?.iosPerTxn32, PAPER_AURORA_IOS_PER_TXN, (a, b) => a <= b),
      },
      {
        goal: `northlight I/Os per transaction at ${IO_THREADS} connections < PostgreSQL-mirrored's in the same run`,
        ...compare(nl?.iosPerTxn32, pg?.iosPerTxn32, (a, b) => a < b),
      },
      {
        goal: `northlight writes/s at ${IO_THREADS} connections >= PostgreSQL-sync's in the same run`,
        ...compare(nl?.writesPerSec32, pg?.writesPerSec32, (a, b) => a >= b),
      },
    ],
  };
}

function roundSummary(summary: Summary): Summary {
  return {
    ...summary,
    transactionsPerSec: round(summary.transactionsPerSec, 1),
    writesPerSec: round(summary.writesPerSec, 0),
    latencyAvgMs: round(summary.latencyAvgMs, 2),
    latencyP95Ms: round(summary.latencyP95Ms, 2),
    ignoredErrorsPerSec: round(summary.ignoredErrorsPerSec, 1),
    iosPerTxn: round(summary.iosPerTxn, 3),
    networkMessagesPerTxn: round(summary.networkMessagesPerTxn, 3),
    networkBytesPerTxn: round(summary.networkBytesPerTxn, 0),
    bytesPerDurableCopyPerTxn: round(summary.bytesPerDurableCopyPerTxn, 0),
    fsyncsPerTxn: round(summary.fsyncsPerTxn, 3),
    extraPerTxn: Object.fromEntries(
      Object.entries(summary.extraPerTxn).map(([key, value]) => [key, round(value, 3)]),
    ),
  };
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
