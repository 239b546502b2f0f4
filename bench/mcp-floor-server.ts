// The MCP floor: an MCP server built with the SDK (McpServer + StreamableHTTPServerTransport on
// node:http, one server per session) with one tool that executes nothing, `echo`.
// Started by bench/mcp-floor.ts as `node mcp-floor-server.js <port>`; GET /ready answers 200.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const port = Number(process.argv[2]);
const transports = new Map<string, StreamableHTTPServerTransport>();

function openSession(): StreamableHTTPServerTransport {
  const server = new McpServer({ name: 'mcp-floor', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => void transports.set(id, transport),
    onsessionclosed: (id) => void transports.delete(id),
  });
  void server.connect(transport);
  return transport;
}

async function body(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
}

createServer((request, response) => {
  if (request.url === '/ready') {
    response.end('ok');
    return;
  }
  void (async () => {
    const parsed = request.method === 'POST' ? await body(request) : undefined;
    const id = request.headers['mcp-session-id'];
    const transport = typeof id === 'string' ? transports.get(id) : openSession();
    if (!transport) {
      response.writeHead(404).end();
      return;
    }
    await transport.handleRequest(request, response, parsed);
  })().catch(() => response.headersSent || response.writeHead(500).end());
}).listen(port, '127.0.0.1');
