export { MimeCache } from './mime.js';
export { type RecipientView, recipientsView } from './recipient-status.js';
export { listRelayStatus, RelayMonitor, type RelayStatusView } from './relay-status.js';
export { OutboxSignal } from './signal.js';
export { clearPasswordRelays, type DeliveryDeps, smtpTarget, smtpTargets, startWorker } from './start.js';
export { DeliveryStore } from './store.js';
export {
  createSmtpTransport,
  describeRelay,
  type RelayDescription,
  type SmtpTarget,
  transportName,
  verifySmtp,
} from './transport.js';
export { Worker, type WorkerDeps, type WorkerOptions } from './worker.js';
