import type { Principal } from '../auth/principal.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Authorizer } from './authorize.js';
import { badRequest, forbidden } from './errors.js';

/** Permission to have this daemon relay a request to another node (`X-Target-Host`). */
export const RELAY_PERMISSION = 'request-forward';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

export interface RelaySettings {
  /** `REST.ClusterNodes`: the only `host:port` pairs a request may be relayed to. */
  nodes: () => readonly string[];
}

/** Where and how a request goes: one of the configured nodes, with the caller's token. */
export interface RelayRoute {
  host: string;
  port: number;
  /** `host:port` as the caller named it (the Host header upstream). */
  authority: string;
}

/**
 * Decides relays. A relay makes the daemon open a connection on a caller's behalf and hand it the
 * caller's token, so it goes only to nodes the administrator named (the nodes of one cluster
 * share the JWT key), only for callers holding `request-forward`, and only where the token cannot
 * be read on the way: over TLS, or to a node on this host.
 */
export class RelayService {
  constructor(
    private readonly authorizer: Authorizer,
    private readonly audit: AuditLog,
    private readonly settings: RelaySettings,
  ) {}

  /** Parses `X-Target-Host` (before anything else: a malformed value is the caller's mistake). */
  parseTarget(raw: string): RelayRoute {
    const target = raw.trim();
    const match = HOST_PORT.exec(target);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) throw badRequest(`Invalid X-Target-Host '${target.slice(0, 100)}': expected host:port`);
    return { host: unbracket(match[1]), port, authority: target };
  }

  /** Throws unless `principal` may relay to `route` over a link that is or is not `tls`. */
  admit(principal: Principal, route: RelayRoute, tls: boolean): void {
    const nodes = this.settings.nodes();
    // The same answer for every target while relaying is off: no probing of what is listening.
    if (nodes.length === 0) {
      this.denied(principal, route, 'relaying is off');
      throw forbidden('Relaying with X-Target-Host is off: REST.ClusterNodes names no node');
    }
    if (!nodes.some((node) => sameNode(node, route))) {
      this.denied(principal, route, 'not one of REST.ClusterNodes');
      throw forbidden(`X-Target-Host ${route.authority} is not one of REST.ClusterNodes`);
    }
    this.authorizer.authorize(principal, RELAY_PERMISSION);
    if (!tls && !isLoopback(route.host)) {
      this.denied(principal, route, 'token would cross the network in clear');
      throw forbidden(`Relaying to ${route.authority} would send the caller's token in clear: serve REST over TLS (REST.SSL), or relay only to nodes on this host`);
    }
    this.audit.record({ event: 'request.relay', user: principal.name, client: principal.client, target: route.authority, outcome: 'success' });
  }

  private denied(principal: Principal, route: RelayRoute, why: string): void {
    this.audit.record({ event: 'authz.denied', user: principal.name, client: principal.client, target: route.authority, outcome: 'failure', detail: `${RELAY_PERMISSION}: ${why}` });
  }
}

function sameNode(node: string, route: RelayRoute): boolean {
  const colon = node.lastIndexOf(':');
  if (colon <= 0) return false;
  return unbracket(node.slice(0, colon).trim()).toLowerCase() === route.host.toLowerCase() && Number(node.slice(colon + 1)) === route.port;
}

function unbracket(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

/** Loopback by address or by the name every host gives it; anything else may be elsewhere. */
function isLoopback(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
