export { rateLimitPolicy } from './policy.js';
