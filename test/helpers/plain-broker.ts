import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

export interface PlainBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A broker without any authentication: stands for an external broker the daemon only joins. */
export async function startPlainBroker(port = 0): Promise<PlainBroker> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    port: bound,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
