import type { Kysely, Transaction } from 'kysely';
import type { DB, MessageRow } from '../db/schema.js';
import { seal, unseal } from './seal.js';

/** What the recipient receives, when it differs from the archive (sensitive variables). */
export interface ClearContent {
  subject: string;
  html: string;
  text: string;
}

type SealedRow = Pick<MessageRow, 'id' | 'sealed_content'>;
type ArchivedRow = SealedRow & Pick<MessageRow, 'subject' | 'html_content' | 'text_content'>;

/**
 * Seals and opens `email_messages.sealed_content`: the clear rendering of a message whose
 * template has sensitive variables. The archive columns of such a message hold a masked
 * rendering; the clear one exists only here, encrypted, until the message is sent or has
 * failed for good, and is then erased (`eraseSealedContent`).
 */
export class ContentSeal {
  constructor(private readonly key: Buffer) {}

  seal(messageId: string, content: ClearContent): Buffer {
    return seal(this.key, Buffer.from(JSON.stringify(content), 'utf8'), `email_messages:${messageId}`);
  }

  /** The clear content, or null when the row has none (no sensitive variables, or erased). Throws UnsealError on a wrong key or a tampered blob. */
  openSealedContent(row: SealedRow): ClearContent | null {
    if (!row.sealed_content) return null;
    const json = unseal(this.key, Buffer.from(row.sealed_content), `email_messages:${row.id}`).toString('utf8');
    return JSON.parse(json) as ClearContent;
  }

  /** What to put on the wire for a row: its sealed clear content if any, else the archived columns. */
  contentToDeliver(row: ArchivedRow): ClearContent {
    return (
      this.openSealedContent(row) ?? {
        subject: row.subject,
        html: row.html_content ?? '',
        text: row.text_content ?? '',
      }
    );
  }
}

/**
 * Drops the clear content once nobody needs it: call it when a message is sent, or failed for
 * good, in the same transaction as that status change. Idempotent.
 */
export async function eraseSealedContent(db: Kysely<DB> | Transaction<DB>, messageId: string): Promise<void> {
  await db
    .updateTable('email_messages')
    .set({ sealed_content: null })
    .where('id', '=', messageId)
    .where('sealed_content', 'is not', null)
    .execute();
}
