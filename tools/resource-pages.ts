import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * Largest piece of a resource returned by one read. A read result is built, serialised and sent
 * whole (several copies of it live at once), so this, not the resource's size, bounds the memory
 * a read costs: a 60 MB output is read as about sixty pages.
 */
export const RESOURCE_PAGE_BYTES = 1024 * 1024;

/** Reads up to `length` bytes at `position`; `size` is the whole resource's size. */
export type PageReader = (position: number, length: number) => Promise<{ data: Buffer; size: number }>;

type Content = ReadResourceResult['contents'][number];

/**
 * One page of a resource, byte-exact. When more follows, the page's `_meta.next` is the URI of the
 * next page (`?cursor=<byte offset>`), and a second, short entry says so in words for a reader
 * that does not look at `_meta`.
 */
export async function readPage(baseUri: string, cursor: number, read: PageReader): Promise<ReadResourceResult> {
  const { data: raw, size } = await read(cursor, RESOURCE_PAGE_BYTES);
  const more = cursor + raw.length < size;
  // Text stays text: a page ends on a character boundary unless it is the last one.
  const data = more ? raw.subarray(0, utf8Boundary(raw) || raw.length) : raw;
  const next = cursor + data.length;
  const nextUri = more ? `${baseUri}?cursor=${next}` : undefined;
  const uri = cursor === 0 ? baseUri : `${baseUri}?cursor=${cursor}`;
  const page: Content = { ...bytesContent(uri, data), _meta: { cursor, total_bytes: size, ...(nextUri ? { next_cursor: next, next: nextUri } : {}) } };
  if (!nextUri) return { contents: [page] };
  const note: Content = { uri: nextUri, mimeType: 'text/plain', text: `[bytes ${cursor}-${next} of ${size}; ${size - next} more: read ${nextUri}]` };
  return { contents: [page, note] };
}

/** Text when the bytes are valid UTF-8, else a base64 blob: either way byte-exact. */
export function bytesContent(uri: string, data: Buffer): Content {
  const text = data.toString('utf8');
  if (Buffer.byteLength(text) === data.length && !text.includes('\uFFFD')) return { uri, mimeType: 'text/plain', text };
  return { uri, mimeType: 'application/octet-stream', blob: data.toString('base64') };
}

/** Length of `data` without a UTF-8 sequence cut at its end (binary data stays as it is). */
function utf8Boundary(data: Buffer): number {
  for (let back = 1; back <= Math.min(4, data.length); back++) {
    const byte = data[data.length - back];
    if ((byte & 0xc0) !== 0x80) {
      // A lead byte: keep it only if its whole sequence is here.
      const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      return length > back ? data.length - back : data.length;
    }
  }
  return data.length;
}

/** The `cursor` of a page URI: a byte offset, 0 when absent. */
export function cursorOf(value: string | string[] | undefined): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text === '') return 0;
  const cursor = Number(text);
  if (!Number.isSafeInteger(cursor) || cursor < 0) throw new RangeError(`Invalid cursor '${text.slice(0, 32)}': expected a byte offset`);
  return cursor;
}
