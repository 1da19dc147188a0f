import { v7 } from 'uuid';

/** Time-ordered UUIDs (v7): index-friendly, and ordering by id is ordering by creation. */
export const newId = (): string => v7();
