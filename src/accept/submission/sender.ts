/**
 * Whether a key may send as `address`: api_keys.allowed_from lists addresses ("a@b.c") and
 * domains ("b.c"); null allows any. Sender identity as a whole (issue #17 item 4) belongs to
 * the accept service; this is the submission listener's call site for it (MAIL FROM and the From
 * field), to be replaced by the accept service's own check once it exists.
 */
export function senderAllowed(allowed: string[] | null, address: string): boolean {
  if (allowed === null) return true;
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@') + 1);
  return allowed.some((a) => {
    const entry = a.trim().toLowerCase();
    return entry.includes('@') ? entry === lower : entry === domain;
  });
}
