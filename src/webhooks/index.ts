export { WebhookDispatcher, type WebhookDispatcherOptions } from './dispatcher.js';
export { GAP_WINDOW_MS, holdWebhookTail, WebhookEnqueuer } from './enqueue.js';
export { isSubscribable, WEBHOOK_EVENT_TYPES } from './event-types.js';
