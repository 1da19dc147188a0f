// A separate API process: opens the shared PostgreSQL schema and fires sends at one address.
import { loadConfig } from '../../src/platform/config.js';
import { wire } from '../../src/app/wiring.js';
import { createLogger } from '../../src/platform/log.js';

const [url, schema, to, count] = process.argv.slice(2) as [string, string, string, string];
const config = loadConfig({
  DATABASE_URL: url,
  DATA_DIR: process.env.RACE_DATA_DIR!,
  LOG_LEVEL: 'silent',
  EMAIL_RATE_LIMIT_MARKETING: '3/day',
});
const s = await wire(config, createLogger('silent'), { schema, migrate: false });
const variables = {
  reseller_name: 'Tech Connect SA',
  items_done: 1,
  items_total: 40,
  link_portal: 'https://admin-rgz.duckdns.org',
};
const results = await Promise.all(
  Array.from({ length: Number(count) }, () =>
    s.send.send({ to, template_key: 'cutover_reminder', variables }, { principal: null }),
  ),
);
process.stdout.write(JSON.stringify(results.map((r) => r.items[0]!.status)));
await s.close();
