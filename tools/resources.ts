import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { badRequest } from '../src/service/errors.js';
import { registerOutputSubscriptions } from './output-subscriptions.js';
import { cursorOf, readPage, RESOURCE_PAGE_BYTES } from './resource-pages.js';
import type { ToolExtra } from './tool-kit.js';

const PAGED = `paged: ${RESOURCE_PAGE_BYTES / 1024 / 1024} MiB per read, the next page's URI (?cursor=<byte offset>) in _meta.next`;

/**
 * App output and files as resources, so a truncated tool result loses nothing. The output of the
 * applications and runs the caller may read is listed, completed and can be followed.
 */
export function registerResources(server: McpServer, core: Core, visibleTo: Principal, principalOf: (extra: ToolExtra) => Principal): void {
  const listOutputs = async (extra: ToolExtra) => ({
    resources: (await readableApps(core, principalOf(extra))).map((name) => ({ uri: outputUri(name), name: `${name} output`, mimeType: 'text/plain' })),
  });
  // Completion has no request context: the session's user decides, as for tools/list.
  const completeName = async (value: string) => (await readableApps(core, visibleTo)).filter((name) => name.startsWith(value)).slice(0, 100);
  const output = (_uri: URL, variables: Record<string, string | string[]>, extra: ToolExtra): Promise<ReadResourceResult> => {
    const name = decodeURIComponent(String(variables.name));
    const principal = principalOf(extra);
    return readPage(`appmesh://apps/${encodeURIComponent(name)}/output`, cursor(variables.cursor), (position, length) => core.apps.readOutput(principal, name, position, length));
  };
  const file = (_uri: URL, variables: Record<string, string | string[]>, extra: ToolExtra): Promise<ReadResourceResult> => {
    const path = `/${decodeURIComponent(String(variables.path)).replace(/^\/+/, '')}`;
    const principal = principalOf(extra);
    return readPage(`appmesh://files${encodeURI(path)}`, cursor(variables.cursor), (position, length) => core.files.readRange(principal, path, position, length));
  };
  const outputMeta = { title: 'Application output', description: `The output (stdout and stderr) of an application's current or last run; ${PAGED}.`, mimeType: 'text/plain' };
  const fileMeta = { title: 'File', description: `A file of the host, under the same path policy as REST downloads; ${PAGED}.` };
  // The paged forms first: `{+path}` would otherwise take `?cursor=` as part of the path.
  server.registerResource('app-output-page', new ResourceTemplate('appmesh://apps/{name}/output{?cursor}', { list: undefined, complete: { name: completeName } }), outputMeta, output);
  server.registerResource('app-output', new ResourceTemplate('appmesh://apps/{name}/output', { list: listOutputs, complete: { name: completeName } }), outputMeta, output);
  const completePath = (value: string) => pathCompletions(core, visibleTo, value);
  server.registerResource('file-page', new ResourceTemplate('appmesh://files/{+path}{?cursor}', { list: undefined, complete: { path: completePath } }), fileMeta, file);
  server.registerResource('file', new ResourceTemplate('appmesh://files/{+path}', { list: undefined, complete: { path: completePath } }), fileMeta, file);
  registerOutputSubscriptions(server, core, principalOf);
}

const outputUri = (name: string) => `appmesh://apps/${encodeURIComponent(name)}/output`;

/** Names of the applications and runs whose output the principal may read (none without the permissions). */
export async function readableApps(core: Core, principal: Principal): Promise<string[]> {
  if (!core.users.userPermissions(principal).includes('app-output-view')) return [];
  try {
    return (await core.apps.list(principal, { include_finished_runs: 'true' })).map((app) => String(app.name));
  } catch {
    return [];
  }
}

function cursor(value: string | string[] | undefined): number {
  try {
    return cursorOf(value);
  } catch (error) {
    throw badRequest((error as Error).message);
  }
}

/**
 * Entries of the directory a partial path names that continue it (directories end with `/`),
 * listed through the file service: its path policy and the user's OS identity apply.
 */
async function pathCompletions(core: Core, principal: Principal, value: string): Promise<string[]> {
  const relative = value.replace(/^\/+/, '');
  const cut = relative.lastIndexOf('/');
  const folder = cut < 0 ? '' : relative.slice(0, cut + 1);
  const prefix = relative.slice(cut + 1);
  try {
    const { entries } = await core.files.list(principal, `/${folder.replace(/\/$/, '')}`);
    return entries
      .filter((entry) => entry.name.startsWith(prefix))
      .map((entry) => `${folder}${entry.name}${entry.type === 'directory' ? '/' : ''}`)
      .sort()
      .slice(0, 100);
  } catch {
    return [];
  }
}
