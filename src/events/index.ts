export { EventLog, type EventLabels, type EventSubscriber, eventRows, type NewEvent } from './log.js';
