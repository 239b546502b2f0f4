import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { badRequest } from '../src/service/errors.js';
import { cursorOf, readPage, RESOURCE_PAGE_BYTES } from './resource-pages.js';
import type { ToolExtra } from './tool-kit.js';

const PAGED = `paged: ${RESOURCE_PAGE_BYTES / 1024 / 1024} MiB per read, the next page's URI (?cursor=<byte offset>) in _meta.next`;

/** App output and files as resources, so a truncated tool result loses nothing. */
export function registerResources(server: McpServer, core: Core, principalOf: (extra: ToolExtra) => Principal): void {
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
  server.registerResource('app-output-page', new ResourceTemplate('appmesh://apps/{name}/output{?cursor}', { list: undefined }), outputMeta, output);
  server.registerResource('app-output', new ResourceTemplate('appmesh://apps/{name}/output', { list: undefined }), outputMeta, output);
  server.registerResource('file-page', new ResourceTemplate('appmesh://files/{+path}{?cursor}', { list: undefined }), fileMeta, file);
  server.registerResource('file', new ResourceTemplate('appmesh://files/{+path}', { list: undefined }), fileMeta, file);
}

function cursor(value: string | string[] | undefined): number {
  try {
    return cursorOf(value);
  } catch (error) {
    throw badRequest((error as Error).message);
  }
}
