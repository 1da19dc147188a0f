-- wrk script for bench/lib/c-tools.ts: POST /api/v1/email/send, one recipient a request, the
-- same body as payload() in deliver.ts with a distinct recipient and invoice number each time.
local n = tonumber(os.getenv("BENCH_FIRST") or "0")
local template_key = os.getenv("BENCH_TEMPLATE_KEY")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

request = function()
  n = n + 1
  local body = string.format(
    '{"to":"bench%d@example.com","template_key":"%s","variables":{"reseller_name":"Tech Connect SA","month":"février","year":"2026","amount_fcfa":"%d","link_portal":"https://admin-rgz.duckdns.org/invoices/latest","invoice_number":"INV-2026-%d"}}',
    n, template_key, 100000 + n, n)
  return wrk.format(nil, "/api/v1/email/send", nil, body)
end
