/** The confirmation pages a recipient sees, in French or English (the message's language). */
const TEXT = {
  fr: {
    title: 'Désabonnement',
    ask: (email: string, cls: string) => `Ne plus recevoir les e-mails « ${cls} » à l'adresse ${email} ?`,
    note: 'Les e-mails de service (factures, alertes, comptes) continueront d’arriver.',
    button: 'Me désabonner',
    done: (email: string) => `C’est fait : ${email} ne recevra plus ces e-mails.`,
    invalid: 'Ce lien de désabonnement n’est pas valide.',
  },
  en: {
    title: 'Unsubscribe',
    ask: (email: string, cls: string) => `Stop receiving “${cls}” emails at ${email}?`,
    note: 'Service emails (invoices, alerts, account notices) will still arrive.',
    button: 'Unsubscribe',
    done: (email: string) => `Done: ${email} will no longer receive these emails.`,
    invalid: 'This unsubscribe link is not valid.',
  },
};

export type Lang = keyof typeof TEXT;
export const langOf = (locale: unknown): Lang =>
  typeof locale === 'string' && locale.toLowerCase().startsWith('en') ? 'en' : 'fr';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(lang: Lang, body: string, brand: string): string {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${esc(TEXT[lang].title)} — ${esc(brand)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head>
<body><h1>${esc(TEXT[lang].title)}</h1>${body}</body></html>`;
}

/** GET shows a button and changes nothing: mail scanners follow links, only a POST unsubscribes. */
export const confirmPage = (lang: Lang, email: string, cls: string, action: string, brand: string) =>
  page(
    lang,
    `<p>${esc(TEXT[lang].ask(email, cls))}</p><p><small>${esc(TEXT[lang].note)}</small></p><form method="post" action="${esc(action)}"><input type="hidden" name="confirm" value="1"><button type="submit">${esc(TEXT[lang].button)}</button></form>`,
    brand,
  );

export const donePage = (lang: Lang, email: string, brand: string) =>
  page(lang, `<p>${esc(TEXT[lang].done(email))}</p>`, brand);
export const invalidPage = (lang: Lang, brand: string) => page(lang, `<p>${esc(TEXT[lang].invalid)}</p>`, brand);
