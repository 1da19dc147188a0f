export { EventLog, type EventLabels, type EventSubscriber, type NewEvent } from './log.js';
