// A bare fastify with one unauthenticated route, in its own process like the daemon, so a
// baseline neither shares the client's event loop nor its CPU. Argument: the port.
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const app = Fastify({ logger: false });
app.get('/', async () => []);
await app.listen({ host: '127.0.0.1', port });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
