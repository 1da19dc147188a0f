export { unsubscribeHeadersPolicy } from './headers-policy.js';
export { unsubscribeKey } from './key.js';
