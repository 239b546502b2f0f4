import { timingSafeEqual } from 'node:crypto';
import type { Principal } from '../../src/auth/principal.js';
import { SERVICE_AUDIENCE } from '../../src/auth/token-service.js';
import type { Authorizer } from '../../src/service/authorize.js';
import type { Core } from '../../src/service/core.js';
import type { AppDefinition } from '../../src/supervisor/app-definition.js';
import type { Supervisor } from '../../src/supervisor/supervisor.js';
import type { AppAccess, BrokerIdentity, UserIdentity } from './broker-acl.js';

/** The user name of the daemon's own bridge client; no App Mesh user can log in under it. */
export const BRIDGE_USERNAME = '$appmesh-bridge';
const BRIDGE_CLIENT_PREFIX = 'appmesh-bridge-';

export function bridgeClientId(node: string): string {
  return `${BRIDGE_CLIENT_PREFIX}${node}`;
}

const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/;

export interface BrokerAuthSettings {
  node: string;
  allowAnonymous: () => boolean;
  fleetUsers: () => readonly string[];
  /** The bridge's secret for this start (random, never logged nor stored). */
  bridgeSecret: Buffer;
}

/**
 * CONNECT of the embedded broker: user name = App Mesh user, password = that user's password
 * (through the core's login, with its throttle and audit) or a JWT of that user.
 */
export function brokerAuthenticator(core: Core, settings: BrokerAuthSettings) {
  return async (client: { id: string; address: string }, username: string | undefined, password: Buffer | undefined): Promise<BrokerIdentity | undefined> => {
    if (username === BRIDGE_USERNAME) {
      const ok = password !== undefined && password.length === settings.bridgeSecret.length && timingSafeEqual(password, settings.bridgeSecret);
      return ok && client.id === bridgeClientId(settings.node) ? { kind: 'bridge' } : undefined;
    }
    if (username === undefined) return settings.allowAnonymous() && !client.id.startsWith(BRIDGE_CLIENT_PREFIX) ? { kind: 'anonymous' } : undefined;
    if (password === undefined) return undefined;
    const secret = password.toString('utf8');
    const principal = JWT_SHAPE.test(secret) ? await byToken(core, secret, `mqtt:${client.address}`) : await byPassword(core, username, secret, client.address);
    if (!principal || principal.name !== username) return undefined;
    const fleet = settings.fleetUsers().includes(username);
    // A bridge's client id takes over the bridge's session: only bridges may use one.
    if (client.id.startsWith(BRIDGE_CLIENT_PREFIX) && (!fleet || client.id === bridgeClientId(settings.node))) return undefined;
    return { kind: 'user', principal, token: JWT_SHAPE.test(secret) ? secret : undefined, fleet };
  };
}

async function byToken(core: Core, token: string, client: string): Promise<Principal | undefined> {
  try {
    return await core.auth.authenticate(token, SERVICE_AUDIENCE, client);
  } catch {
    return undefined;
  }
}

async function byPassword(core: Core, name: string, password: string, address: string): Promise<Principal | undefined> {
  try {
    // Users with two-factor login get a TOTP challenge here: they connect with a token instead.
    const issued = await core.auth.login({ authorization: `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`, client: `mqtt:${address}` });
    return { name: issued.profile.name, group: issued.profile.group, audience: SERVICE_AUDIENCE, client: `mqtt:${address}` };
  } catch {
    return undefined;
  }
}

/**
 * The ACL's questions, answered by the core's authorizer (one source of truth for permissions).
 * Delivery checks are synchronous (the broker asks per message), hence the authorizer itself.
 */
export function coreAppAccess(core: Core, authorizer: Authorizer, supervisor: Supervisor): AppAccess {
  // A REMOVED event comes after the app is gone: judge it by the definition last seen.
  const lastSeen = new Map<string, AppDefinition>();
  const definition = (app: string): AppDefinition | undefined => {
    const current = supervisor.get(app)?.definition;
    if (current) lastSeen.set(app, current);
    return current ?? lastSeen.get(app);
  };
  return {
    async stillValid(identity: UserIdentity) {
      return (await byToken(core, identity.token ?? '', identity.principal.client ?? 'mqtt')) !== undefined;
    },
    maySubscribeEvents(identity: UserIdentity) {
      return authorizer.hasPermission(identity.principal, 'app-subscribe');
    },
    mayReadEvents(identity: UserIdentity, app: string) {
      const found = definition(app);
      return found !== undefined && authorizer.hasPermission(identity.principal, 'app-subscribe') && authorizer.canAccess(identity.principal, found, 'read');
    },
  };
}
