import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
}, 30_000);
afterAll(async () => {
  await d?.stop();
});

interface SseEvent {
  id: string;
  event: string;
  data: { event_type: string; sequence: number; data: Record<string, unknown> | null };
}

/** Reads Server-Sent Events from a response until `until` says enough. */
async function readEvents(response: Response, until: (events: SseEvent[]) => boolean, controller: AbortController): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        if (field('data')) events.push({ id: field('id') ?? '', event: field('event') ?? '', data: JSON.parse(field('data')!) as SseEvent['data'] });
      }
    }
  } finally {
    controller.abort();
  }
  return events;
}

function stream(path: string, headers: Record<string, string> = {}, token: string | null = d.token): { response: Promise<Response>; controller: AbortController } {
  const controller = new AbortController();
  return { controller, response: fetch(`${d.url}${path}`, { headers: { Accept: 'text/event-stream', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers }, signal: controller.signal }) };
}

describe('Server-Sent Events', () => {
  test('an app\'s START, STDOUT and EXIT as events; Last-Event-ID resumes after the last one seen', async () => {
    expect((await d.request('PUT', '/appmesh/app/sse-app', { body: { command: 'sh -c "echo sse-line"', status: 0 } })).status).toBe(200);
    const first = stream('/appmesh/app/sse-app/events?events=START,STDOUT,EXIT');
    const response = await first.response;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reading = readEvents(response, (events) => events.some((e) => e.event === 'EXIT'), first.controller);
    await new Promise((ok) => setTimeout(ok, 200));
    expect((await d.request('POST', '/appmesh/app/sse-app/enable')).status).toBe(200);
    const events = await reading;
    expect(events[0]!.event).toBe('START');
    expect(events.map((e) => e.event)).toContain('STDOUT');
    expect(events.filter((e) => e.event === 'STDOUT').map((e) => e.data.data?.output).join('')).toContain('sse-line');
    expect(events.every((e) => e.id === String(e.data.sequence))).toBe(true);

    // Resuming after START replays the rest of the run from the server's window.
    const again = stream('/appmesh/app/sse-app/events?events=START,STDOUT,EXIT', { 'Last-Event-ID': events[0]!.id });
    const replayed = await readEvents(await again.response, (got) => got.some((e) => e.event === 'EXIT'), again.controller);
    expect(replayed.map((e) => e.id)).toEqual(events.slice(1).map((e) => e.id));
  });

  test('the caller must be authenticated and may read the app; plain subscribe still answers 405', async () => {
    expect((await (await stream('/appmesh/app/sse-app/events', {}, null).response).status)).toBe(401);
    expect((await d.request('PUT', '/appmesh/user/sse-other', { body: { key: 'Sse-Other-Password-1', group: 'user', roles: ['user'] } })).status).toBe(200);
    const other = await login(d.url, 'sse-other', 'Sse-Other-Password-1');
    const refused = await stream('/appmesh/app/sse-app/events', {}, other).response;
    // Refused as every face refuses a missing permission (400 with the reason, as the original).
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/Permission denied: .*app-subscribe/);
    expect((await d.request('POST', '/appmesh/app/sse-app/subscribe')).status).toBe(405);
  });
});
