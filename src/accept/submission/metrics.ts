import { Counter } from 'prom-client';
import { registry } from '../../platform/metrics.js';

/** SMTP submission, in GET /metrics. Reasons are a closed set (SmtpReply reasons). */
export const submissionConnections = new Counter({
  name: 'postier_submission_connections_total',
  help: 'Connections to the SMTP submission listener',
  registers: [registry],
});

export const submissionAuthFailures = new Counter({
  name: 'postier_submission_auth_failures_total',
  help: 'Failed SMTP logins (wrong key), and logins refused (`locked`: too many failures from the address; `cleartext`: before TLS)',
  labelNames: ['kind'],
  registers: [registry],
});

export const submissionMessages = new Counter({
  name: 'postier_submission_messages_total',
  help: 'Submitted messages (one per DATA): accepted (250 after the commit) or refused, by reason',
  labelNames: ['result', 'reason'],
  registers: [registry],
});

export const submissionArchived = new Counter({
  name: 'postier_submission_archived_total',
  help: 'Messages made from the submission spool (`stored`); spooled submissions whose storing failed and will be tried again (`retried`); messages of spooled submissions an operator dropped (`dropped`)',
  labelNames: ['result'],
  registers: [registry],
});

export const submissionFlowDelays = new Counter({
  name: 'postier_submission_flow_delays_total',
  help: 'Submitted messages whose 250 was held back because the spool was older than SUBMISSION_SPOOL_MAX_AGE_SECONDS (flow control)',
  registers: [registry],
});

export const submissionFlowDelaySeconds = new Counter({
  name: 'postier_submission_flow_delay_seconds_total',
  help: 'Time 250 replies were held back by flow control, summed',
  registers: [registry],
});
