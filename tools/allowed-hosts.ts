import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { Core } from '../src/service/core.js';
import { ServiceError } from '../src/service/errors.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_ADDRESSES = new Set(['', '0.0.0.0', '::', '[::]']);

/**
 * DNS-rebinding defence for /mcp and the OAuth bridge (as the MCP transport requires): a page
 * on a name the attacker controls, re-pointed at this machine, sends that name as `Host`. Only
 * names this daemon is known by are answered: localhost and the loopback addresses, the listen
 * address, the public URL's host and `REST.AllowedHosts`. On a wildcard listen address any
 * IP literal is accepted too: rebinding needs a DNS name, and a literal address is its own origin.
 */
export function checkHost(request: FastifyRequest, core: Core): void {
  const hostname = headerHostname(request.headers.host);
  if (!hostname) throw new ServiceError(403, 'Missing or invalid Host header');
  const listen = core.config().REST.RestListenAddress.trim();
  if (WILDCARD_ADDRESSES.has(listen) && isIP(hostname.replace(/^\[|\]$/g, ''))) return;
  if (!namesOf(core).allowed.has(hostname)) throw new ServiceError(403, `Host ${hostname} is not allowed (REST.AllowedHosts)`);
}

/**
 * A browser page may drive /mcp (or post the sign-in form) only from this daemon's own origin or
 * from a configured name. Requests without `Origin` (programs, not browsers) pass.
 */
export function checkOrigin(request: FastifyRequest, core: Core): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new ServiceError(403, 'Origin not allowed');
  }
  const sameOrigin = url.host.toLowerCase() === (request.headers.host ?? '').toLowerCase();
  if (sameOrigin || namesOf(core).configured.has(url.hostname)) return;
  throw new ServiceError(403, 'Origin not allowed');
}

/** Whether a cross-origin page may use /mcp (its origin is a configured name). */
export function crossOriginAllowed(request: FastifyRequest, core: Core): string | undefined {
  const origin = request.headers.origin;
  if (!origin) return undefined;
  try {
    const url = new URL(origin);
    return url.host.toLowerCase() !== (request.headers.host ?? '').toLowerCase() && namesOf(core).configured.has(url.hostname) ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The names worked out from the settings they were made from (every request looks at them). */
let names: { from: string; configured: Set<string>; allowed: Set<string> } | undefined;

function namesOf(core: Core): { configured: Set<string>; allowed: Set<string> } {
  const rest = core.config().REST;
  const from = [rest.RestListenAddress, process.env.APPMESH_MCP_PUBLIC_URL ?? '', ...rest.AllowedHosts].join('\n');
  if (names?.from !== from) {
    const configured = configuredNames(core);
    names = { from, configured, allowed: allowedNames(core, configured) };
  }
  return names;
}

function allowedNames(core: Core, configured: ReadonlySet<string>): Set<string> {
  const names = new Set(configured);
  for (const name of LOOPBACK_NAMES) names.add(name);
  const listen = hostnameOf(bracketed(core.config().REST.RestListenAddress.trim()));
  if (listen) names.add(listen);
  return names;
}

/** Hostnames of the Host headers seen last (a few, forgotten all at once when full). */
const hostnames = new Map<string, string | undefined>();
const HOSTNAMES_MAX = 64;

function headerHostname(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (hostnames.has(host)) return hostnames.get(host);
  const hostname = hostnameOf(host);
  if (hostnames.size >= HOSTNAMES_MAX) hostnames.clear();
  hostnames.set(host, hostname);
  return hostname;
}

/** Names the administrator gave: `REST.AllowedHosts` and the public URL's host. */
function configuredNames(core: Core): Set<string> {
  const names = new Set<string>();
  for (const entry of core.config().REST.AllowedHosts) {
    const name = hostnameOf(bracketed(entry.trim()));
    if (name) names.add(name);
  }
  const publicUrl = process.env.APPMESH_MCP_PUBLIC_URL?.trim();
  if (publicUrl) {
    try {
      names.add(new URL(publicUrl).hostname);
    } catch {
      // An unusable public URL names no host.
    }
  }
  return names;
}

/** `host[:port]` → lower-case hostname (IPv6 in brackets), or undefined when it is not one. */
function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  try {
    const url = new URL(`http://${host}`);
    return url.username || url.password || url.pathname !== '/' ? undefined : url.hostname;
  } catch {
    return undefined;
  }
}

/** A bare IPv6 address (a listen address, a configured entry) in the brackets a Host header uses. */
function bracketed(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}
