import type { Config } from '../platform/config.js';
import { deriveKey } from '../platform/crypto/secret-key.js';

/** The key signing open and click links: a sub-key of the one secret (see deriveKey). */
export const trackingKey = (config: Config): Buffer => deriveKey(config, 'tracking');
