/**
 * `p`, or a rejection with an Error `no answer within <ms> ms` whose `code` is `code` once `ms`
 * have passed first. The work behind `p` is not stopped: only the wait for it.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, code = 'TIMEOUT'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
