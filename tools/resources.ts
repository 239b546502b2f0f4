import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import type { ToolExtra } from './tool-kit.js';

/** Largest resource read returned at once; bigger outputs are paged with read_output. */
const MAX_RESOURCE_BYTES = 64 * 1024 * 1024;

/** App output as resources, so a truncated tool result loses nothing. */
export function registerResources(server: McpServer, core: Core, principalOf: (extra: ToolExtra) => Principal): void {
  server.registerResource(
    'app-output',
    new ResourceTemplate('appmesh://apps/{name}/output', { list: undefined }),
    { title: 'Application output', description: 'The complete output (stdout and stderr) of an application\'s current or last run.', mimeType: 'text/plain' },
    async (uri, variables, extra): Promise<ReadResourceResult> => {
      const name = decodeURIComponent(String(variables.name));
      const principal = principalOf(extra);
      const state = core.apps.runState(principal, name);
      const { data } = await core.apps.readOutput(principal, name, 0, Math.min(state.output_size, MAX_RESOURCE_BYTES));
      return { contents: [bytesContent(uri.href, data)] };
    },
  );
  server.registerResource(
    'file',
    new ResourceTemplate('appmesh://files/{+path}', { list: undefined }),
    { title: 'File', description: 'A file of the host, under the same path policy as REST downloads (first 16 MiB).' },
    async (uri, variables, extra): Promise<ReadResourceResult> => {
      const path = `/${decodeURIComponent(String(variables.path)).replace(/^\/+/, '')}`;
      const { data } = await core.files.readRange(principalOf(extra), path, 0, MAX_FILE_RESOURCE_BYTES);
      return { contents: [bytesContent(uri.href, data)] };
    },
  );
}

const MAX_FILE_RESOURCE_BYTES = 16 * 1024 * 1024;

/** Text when the bytes are valid UTF-8, else a base64 blob: either way byte-exact. */
export function bytesContent(uri: string, data: Buffer): ReadResourceResult['contents'][number] {
  const text = data.toString('utf8');
  if (Buffer.byteLength(text) === data.length && !text.includes('\uFFFD')) return { uri, mimeType: 'text/plain', text };
  return { uri, mimeType: 'application/octet-stream', blob: data.toString('base64') };
}
