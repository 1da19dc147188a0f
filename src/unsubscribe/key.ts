import type { Config } from '../platform/config.js';
import { deriveKey } from '../platform/crypto/secret-key.js';

/** The key signing unsubscribe links: a sub-key of the one secret (see deriveKey). */
export const unsubscribeKey = (config: Config): Buffer => deriveKey(config, 'unsubscribe');
