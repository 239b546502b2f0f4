import { z } from 'zod';

// The npm client 1.2.0 sends numbers in headers and query: they mean their text.
const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);

/**
 * The App Mesh request fields every framed face shares (MQTT, TCP, WebSocket); each face adds
 * how its body travels and where its reply goes.
 */
export const requestEnvelope = z.object({
  uuid: z.string().min(1).max(128),
  http_method: z
    .string()
    .transform((s) => s.trim().toUpperCase())
    .pipe(z.string().regex(/^[A-Z]{1,16}$/, 'must be an HTTP method')),
  // A path, never an absolute URL: the request is served by this daemon only.
  request_uri: z.string().max(8192).regex(/^\/(?!\/)/, 'must be a path starting with /'),
  query: z.record(z.string(), z.union([scalar, z.array(scalar)])).optional(),
  headers: z.record(z.string(), scalar).optional(),
});
