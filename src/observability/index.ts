export { MetricsAsker } from './metrics-asker.js';
export { countEvents } from './metrics-subscriber.js';
export { databaseCheck, type ReadinessCheck, smtpCheck } from './readiness.js';
