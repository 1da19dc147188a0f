/**
 * The message of the delivery benchmarks: a plain notice without the branded layout, about
 * 2 KB of MIME once rendered (the size the delivery goals are stated for). Created through the
 * admin API like any customer template; the reference senders send its rendering too.
 */
export const BENCH_TEMPLATE = {
  key: 'bench_notice',
  name: 'Benchmark notice (2 KB)',
  category: 'billing',
  layout: null,
  required_variables: ['reseller_name', 'month', 'year', 'amount_fcfa', 'link_portal', 'invoice_number'],
  subject: 'Facture {{ invoice_number }} — {{ month }} {{ year }}',
  html_content: [
    '<p>Bonjour {{ reseller_name }},</p>',
    '<p>Votre facture <strong>{{ invoice_number }}</strong> du mois de {{ month }} {{ year }} est disponible.',
    'Montant à régler : <strong>{{ amount_fcfa }} FCFA</strong>, payable sous 15 jours par virement ou mobile money.</p>',
    '<p>Vous pouvez la consulter, la télécharger au format PDF et suivre vos paiements depuis votre espace revendeur :',
    '<a href="{{ link_portal }}">accéder au portail</a>.</p>',
    '<p>Pour toute question sur cette facture, répondez simplement à ce message : notre équipe facturation vous répond sous un jour ouvré.</p>',
    '<p>Rappel : les factures non réglées trente jours après leur émission peuvent entraîner la suspension des services associés.',
    'Si vous avez déjà effectué le paiement, merci de ne pas tenir compte de ce rappel et d’accepter nos remerciements.</p>',
    '<p>Cordialement,<br>Le service facturation</p>',
  ].join('\n'),
  text_content: [
    'Bonjour {{ reseller_name }},',
    '',
    'Votre facture {{ invoice_number }} du mois de {{ month }} {{ year }} est disponible.',
    'Montant à régler : {{ amount_fcfa }} FCFA, payable sous 15 jours.',
    'Portail : {{ link_portal }}',
    '',
    'Le service facturation',
  ].join('\n'),
};
