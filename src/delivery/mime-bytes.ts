import * as base64 from 'nodemailer/lib/base64';
import type MimeNode from 'nodemailer/lib/mime-node';
import * as qp from 'nodemailer/lib/qp';

/**
 * The bytes MimeNode.build() produces, written without its streams when every part's content is
 * already in memory (ours always is: rendered strings and stored attachment bytes). build() runs
 * each part through its own pipeline, timers and encoder streams, which for a 2 KB message was
 * two thirds of the cost of building it. Headers, boundaries and encoding choices stay
 * Nodemailer's (buildHeaders, getTransferEncoding, qp, base64); only the walk over the tree is
 * ours, and test/mime-bytes.test.ts holds it to build()'s output byte for byte.
 *
 * Returns null, before touching the tree, for what this walk does not cover (streamed, file or
 * URL content, a raw node, quoted-printable outside text/*, a newline conversion, transforms or
 * post-processing attached to a node): use build().
 */
export function mimeBytes(root: MimeNode): Buffer | null {
  if (root.newline || !covered(root)) return null;
  const out: Buffer[] = [];
  write(root, out);
  // build() ends the message with a line break (its LastNewline stage).
  const last = out.at(-1)?.at(-1);
  if (last === 0x0d) out.push(Buffer.from('\n'));
  else if (last !== 0x0a) out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}

function covered(node: MimeNode): boolean {
  const { content } = node;
  const internals = node as unknown as { _raw?: unknown; _transforms: unknown[]; _processFuncs: unknown[] };
  if (internals._raw || internals._transforms.length || internals._processFuncs.length) return false;
  if (content && typeof content !== 'string' && !Buffer.isBuffer(content)) return false;
  // Outside text/*, build() encodes lone CR and LF apart from line breaks (qp's binary mode).
  if (content && !/^text\//i.test(String(node.getHeader('Content-Type') ?? '')) && node.getTransferEncoding() === 'quoted-printable') return false;
  return node.childNodes.every(covered);
}

/** What MimeNode.stream() writes for a node: headers, encoded content, then each child between boundaries. */
function write(node: MimeNode, out: Buffer[]): void {
  const content = node.content as string | Buffer | undefined;
  const encoding = node.getTransferEncoding();
  out.push(Buffer.from(node.buildHeaders() + '\r\n\r\n'));
  if (content) {
    if (encoding === 'base64') out.push(Buffer.from(base64.wrap(base64.encode(content), 76), 'latin1'));
    else if (encoding === 'quoted-printable') out.push(Buffer.from(qp.wrap(qp.encode(content), 76), 'latin1'));
    else out.push(typeof content === 'string' ? Buffer.from(content) : content);
  }
  if (!node.multipart) return;
  for (const [i, child] of node.childNodes.entries()) {
    out.push(Buffer.from(`${i > 0 ? '\r\n' : ''}--${node.boundary}\r\n`));
    write(child, out);
  }
  out.push(Buffer.from(`\r\n--${node.boundary}--\r\n`));
}
