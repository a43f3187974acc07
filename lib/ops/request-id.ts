/** The request id echoed as X-Request-Id and logged: the client's own when it is a plain token of safe characters, else a new one. */

/** Letters, digits and `-_.:@+=/`, as trace ids and UUIDs are spelled; nothing that could break a log line or a header. */
const ACCEPTED = /^[A-Za-z0-9\-_.:@+=/]{1,128}$/

export function requestIdOf(sent: string | null): string {
  return sent !== null && ACCEPTED.test(sent) ? sent : crypto.randomUUID()
}
