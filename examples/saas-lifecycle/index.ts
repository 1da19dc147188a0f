export { type Customer, type Instance, LifecycleError } from './instance.js';
export { type Actor, InstanceManager, type ManagerOptions, type Server } from './manager.js';
export { type Logger, LifecycleNotifier } from './notifier.js';
