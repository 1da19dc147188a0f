import { buildMime } from '../src/delivery/mime.js';
import MailComposer from 'nodemailer/lib/mail-composer';
const html = '<html><body>' + '<p>Bonjour Tech Connect SA, votre facture de février 2026 est disponible. Montant : 100000 FCFA.</p>'.repeat(40) + '</body></html>';
const text = 'Bonjour Tech Connect SA, votre facture de février 2026 est disponible.\n'.repeat(30);
const msg: any = { id: 'x', recipient_email: 'a@example.com', cc: null, bcc: null, reply_to: null, subject: 'Votre facture de février 2026 — RGZ', text_content: text, html_content: html, smtp_message_id: '<x@rgz.bj>', created_at: Date.now(), headers: null };
const sender = { fromName: 'RGZ Notifications', fromEmail: 'noreply@rgz.bj', replyTo: undefined };
for (let i = 0; i < 300; i++) await buildMime(msg, [], sender);
let t0 = performance.now(); const N = 3000;
for (let i = 0; i < N; i++) await buildMime(msg, [], sender);
let dt = performance.now() - t0; console.log('buildMime ms/msg', (dt / N).toFixed(3), 'bytes', (await buildMime(msg, [], sender)).raw.length);
// concurrent
t0 = performance.now();
await Promise.all(Array.from({ length: N }, () => buildMime(msg, [], sender)));
dt = performance.now() - t0; console.log('buildMime concurrent ms/msg', (dt / N).toFixed(3));
