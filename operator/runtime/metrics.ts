import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'holdfast_reconcile_total',
    help: 'Reconciles by controller and result (success, error).',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'holdfast_reconcile_duration_seconds',
    help: 'Time taken by one reconcile.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'holdfast_reconcile_errors_total',
    help: 'Reconciles that failed and will be retried.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'holdfast_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly workspaces = new Gauge({
    name: 'holdfast_workspaces',
    help: 'Workspaces by phase.',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  readonly apiWrites = new Counter({
    name: 'holdfast_api_writes_total',
    help: 'Writes the operator made to the Kubernetes API, by kind and verb.',
    labelNames: ['kind', 'verb'] as const,
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'holdfast_api_requests_total',
    help: 'Requests the operator made to the Kubernetes API outside its watches, by HTTP method (GET: gets and lists) and resource.',
    labelNames: ['method', 'resource'] as const,
    registers: [this.registry],
  });
  readonly watches = new Counter({
    name: 'holdfast_api_watches_total',
    help: 'Lists and watches the operator started, by resource: one of each per cache, and again after a watch fails.',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly backups = new Counter({
    name: 'holdfast_backups_total',
    help: 'Backups finished, by workspace and result (succeeded, partial: some copy failed, failed).',
    labelNames: ['workspace', 'result'] as const,
    registers: [this.registry],
  });
  readonly restores = new Counter({
    name: 'holdfast_restores_total',
    help: 'Restores finished, by workspace and result (succeeded, failed).',
    labelNames: ['workspace', 'result'] as const,
    registers: [this.registry],
  });
  readonly lastBackup = new Gauge({
    name: 'holdfast_backup_last_success_timestamp_seconds',
    help: 'When the newest good backup of a workspace completed (Unix time).',
    labelNames: ['workspace'] as const,
    registers: [this.registry],
  });
  readonly recoveryPoint = new Gauge({
    name: 'holdfast_backup_recovery_point_timestamp_seconds',
    help: 'When the newest backup stored at every destination of a workspace completed (Unix time); alert on time() minus this.',
    labelNames: ['workspace'] as const,
    registers: [this.registry],
  });
  readonly lastDrill = new Gauge({
    name: 'holdfast_restore_drill_last_success_timestamp_seconds',
    help: 'When a restore drill last proved a backup of a workspace (Unix time); alert when drills stop.',
    labelNames: ['workspace'] as const,
    registers: [this.registry],
  });
  readonly lastExport = new Gauge({
    name: 'holdfast_export_last_success_timestamp_seconds',
    help: 'When the newest daily export of a workspace was stored everywhere (Unix time); alert when exports stop.',
    labelNames: ['workspace'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'holdfast_leader',
    help: '1 while this replica holds the leader lease.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'holdfast_operator_' });
  }
}
