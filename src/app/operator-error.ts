/**
 * A condition of the database or the server that the operator, not the command's arguments, must
 * see to (a lock held too long, a connection budget the server cannot give): the CLI prints its
 * message alone and exits 2, as for a ConfigError. Kept in a module of its own so that the CLI's
 * entry can recognise it without loading the server's code.
 */
export class OperatorError extends Error {}
