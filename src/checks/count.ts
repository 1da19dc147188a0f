import { Counter } from 'prom-client';
import { registry } from '../platform/metrics.js';

export type CheckKind = 'html' | 'links' | 'spam';
/**
 * passed: nothing to report (every feature supported everywhere, no link problem, not spam);
 * warned: something to look at; unavailable: no spamd (unset or unreachable).
 */
export type CheckResult = 'passed' | 'warned' | 'unavailable';

const checks = new Counter({
  name: 'postier_content_checks_total',
  help: 'HTML, link and spam checks of captured or archived mail, by kind and result',
  labelNames: ['kind', 'source', 'result'],
  registers: [registry],
});

/** Counts one check; `source` is where the mail came from: the capture inbox or the archive. */
export function countCheck(kind: CheckKind, source: 'capture' | 'archive', result: CheckResult): void {
  checks.inc({ kind, source, result });
}
