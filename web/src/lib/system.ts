import { useEffect, useState } from 'react';
import { api } from '../api.js';
import type { SystemInfo } from '../api-types.js';

/**
 * The server's mode, read once per page load and shared by every page (the capture banner is on
 * all of them); a server without GET /system (an older version) gives null: no banner.
 */
let loaded: Promise<SystemInfo | null> | null = null;
const load = () => (loaded ??= api.system().catch(() => null));

export function useSystemMode(): SystemInfo['mode'] | null {
  const [mode, setMode] = useState<SystemInfo['mode'] | null>(null);
  useEffect(() => {
    let current = true;
    void load().then((s) => current && setMode(s?.mode ?? null));
    return () => {
      current = false;
    };
  }, []);
  return mode;
}

/** After a log out the next session asks again (another server, another token). */
export const forgetSystem = (): void => {
  loaded = null;
};
