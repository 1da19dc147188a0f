import MailComposer from 'nodemailer/lib/mail-composer';
const html = '<html><body>' + '<p>Bonjour Tech Connect SA, votre facture de février 2026 est disponible. Montant : 100000 FCFA.</p>'.repeat(40) + '</body></html>';
const text = 'Bonjour Tech Connect SA, votre facture de février 2026 est disponible.\n'.repeat(30);
const base = { from: { name: 'RGZ Notifications', address: 'noreply@rgz.bj' }, to: 'a@example.com', subject: 'Votre facture de février 2026 — RGZ', messageId: '<x@rgz.bj>', date: new Date() };
const variants: Record<string, () => any> = {
  current: () => ({ ...base, text, html }),
  qpObj: () => ({ ...base, text: { content: text, contentTransferEncoding: 'quoted-printable' }, html: { content: html, contentTransferEncoding: 'quoted-printable' } }),
  b64: () => ({ ...base, text: { content: text, contentTransferEncoding: 'base64' }, html: { content: html, contentTransferEncoding: 'base64' } }),
  textEncB: () => ({ ...base, text, html, textEncoding: 'base64' }),
};
for (const [name, mk] of Object.entries(variants)) {
  const build = async () => new MailComposer(mk()).compile().build();
  for (let i = 0; i < 300; i++) await build();
  const N = 3000; const t0 = performance.now();
  for (let i = 0; i < N; i++) await build();
  const r = await build();
  console.log(name, ((performance.now() - t0) / N).toFixed(3), 'ms', r.length, 'B');
}
