export interface AuditEvent {
  /** e.g. `login`, `login.throttled`, `token.renew`, `user.add`, `app.register`, `app.run`, `authz.denied`. */
  event: string;
  user?: string;
  client?: string;
  target?: string;
  outcome: 'success' | 'failure';
  detail?: string;
}

/** A line of the log: the event, when, and for an aggregated record how often and since when. */
export interface AuditRecord extends AuditEvent {
  time: string;
  /** Occurrences this record stands for (absent: one). */
  count?: number;
  /** Start of the window an aggregated record covers. */
  since?: string;
}

/** Longest value of a free-text field; the rest is replaced by a marker saying how much was cut. */
export const AUDIT_FIELD_CAP = 256;

/** Callers pass what clients sent (user names, paths, commands): every field is capped. */
export function capFields(event: AuditEvent): AuditEvent {
  return {
    event: cap(event.event),
    outcome: event.outcome,
    ...(event.user === undefined ? {} : { user: cap(event.user) }),
    ...(event.client === undefined ? {} : { client: cap(event.client) }),
    ...(event.target === undefined ? {} : { target: cap(event.target) }),
    ...(event.detail === undefined ? {} : { detail: cap(event.detail) }),
  };
}

function cap(value: string): string {
  return value.length <= AUDIT_FIELD_CAP ? value : `${value.slice(0, AUDIT_FIELD_CAP)}…[+${value.length - AUDIT_FIELD_CAP} chars]`;
}
