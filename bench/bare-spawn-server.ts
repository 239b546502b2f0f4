// The REST baseline: a bare node:http server that runs the posted command per request (spawn,
// its stdout collected, the exit code in a header), in its own process like the daemon.
// Argument: the port. GET /ready answers 200 once it listens.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const server = createServer((request, response) => {
  if (request.method === 'GET') {
    response.end('ok');
    return;
  }
  const body: Buffer[] = [];
  request.on('data', (chunk: Buffer) => body.push(chunk));
  request.on('end', () => {
    const { command } = JSON.parse(Buffer.concat(body).toString()) as { command: string };
    const child = spawn(command, [], { stdio: ['ignore', 'pipe', 'ignore'] });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.on('error', () => {
      response.statusCode = 400;
      response.end();
    });
    child.on('close', (code) => {
      response.setHeader('X-Exit-Code', String(code ?? -1));
      response.end(Buffer.concat(output));
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
