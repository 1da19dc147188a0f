import { readTemplatesDir } from '../../src/templates/definition.js';
import { DEFAULT_TEMPLATES_DIR } from '../../src/templates/paths.js';

export const defaultTemplates = readTemplatesDir(DEFAULT_TEMPLATES_DIR);

/** A small but real PDF document (header, one empty page, xref, trailer). */
export function pdfBytes(): Buffer {
  const objects = [
    '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj',
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj',
    '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj',
  ];
  let body = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  for (const o of objects) {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${o}\n`;
  }
  const xref = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer << /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** A 1×1 PNG. */
export const pngBytes = (): Buffer =>
  Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
    'base64',
  );

/** The specification's invoice example, with a real PDF in place of the shortened base64. */
export const invoiceExample = () => ({
  to: 'reseller@techconnect.bj',
  template_key: 'billing_invoice_monthly',
  variables: {
    reseller_name: 'Tech Connect SA',
    month: 'février',
    year: '2026',
    amount_fcfa: '450000',
    link_portal: 'https://admin-rgz.duckdns.org/invoices/latest',
    invoice_number: 'INV-2026-0001',
  },
  attachments: [
    { filename: 'invoice_2026-02.pdf', content_type: 'application/pdf', data_base64: pdfBytes().toString('base64') },
  ],
});

export const incidentExample = () => ({
  to: 'noc@rgz.bj,reseller@techconnect.bj',
  template_key: 'incident_alert_critical',
  variables: {
    incident_number: 'INC-2026-000847',
    title: 'Fiber cut central',
    description: 'Central BGP flap, 45 sites offline',
    priority: 'P0',
    affected_sites: 45,
    detected_at: '2026-02-21T14:30:00Z',
    status_link: 'https://status.rgz.bj',
  },
});
