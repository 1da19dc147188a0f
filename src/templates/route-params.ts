import { Type } from '@fastify/type-provider-typebox';

export const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
