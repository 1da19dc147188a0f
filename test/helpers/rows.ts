/** An api_keys row named `name`: the smallest real row for tests of the database layer to write. */
export const apiKeyRow = (name: string) => ({
  id: name,
  name,
  scope: 'send' as const,
  token_hash: `h-${name}`,
  token_prefix: 'p',
  created_by: null,
  created_at: 1,
  last_used_at: null,
  revoked_at: null,
});
