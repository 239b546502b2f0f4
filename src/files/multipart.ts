/** A `multipart/form-data` body that cannot be read (a client mistake: 400). */
export class MultipartError extends Error {
  override name = 'MultipartError';
}

export interface MultipartLimits {
  /** Largest header block of one part. */
  maxHeaderBytes: number;
  /** Everything that is not the wanted part's content: preamble, other fields, epilogue. */
  maxOtherBytes: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxHeaderBytes: 16 * 1024, maxOtherBytes: 1024 * 1024 };
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * The boundary of a `multipart/form-data` content type; undefined for any other type.
 * Throws when the type is multipart but carries no usable boundary.
 */
export function formDataBoundary(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let value = param.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    // RFC 2046: 1 to 70 characters.
    if (value.length >= 1 && value.length <= 70) return value;
  }
  throw new MultipartError('multipart/form-data without a valid boundary');
}

type State = 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'epilogue';

/**
 * Streams the content of the first part named `partName` out of a multipart body, without ever
 * holding more than one chunk plus a delimiter's length. Delimiters and header blocks split across
 * chunks are handled by keeping only the tail that could start a delimiter.
 */
export async function* multipartPart(
  source: AsyncIterable<Buffer>,
  boundary: string,
  partName: string,
  limits: MultipartLimits = DEFAULT_LIMITS,
): AsyncGenerator<Buffer, void, undefined> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // A body may open with the first delimiter itself, without the CRLF that precedes the others.
  let buffer: Buffer = CRLF;
  let state: State = 'preamble';
  let inWanted = false;
  let found = false;
  let other = 0;

  const countOther = (bytes: number): void => {
    other += bytes;
    if (other > limits.maxOtherBytes) throw new MultipartError(`multipart data outside the '${partName}' part exceeds ${limits.maxOtherBytes} bytes`);
  };

  for await (const chunk of source) {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (;;) {
      if (state === 'preamble' || state === 'body') {
        const at = buffer.indexOf(delimiter);
        const end = at === -1 ? partialDelimiterStart(buffer, delimiter) : at;
        if (end > 0) {
          if (inWanted) yield buffer.subarray(0, end);
          else countOther(end);
        }
        if (at === -1) {
          buffer = buffer.subarray(end);
          break;
        }
        if (inWanted) {
          inWanted = false;
          found = true;
        }
        buffer = buffer.subarray(at + delimiter.length);
        state = 'after-delimiter';
      } else if (state === 'after-delimiter') {
        if (buffer.length < 2) break;
        if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
          state = 'epilogue';
          buffer = buffer.subarray(2);
          continue;
        }
        const eol = buffer.indexOf(CRLF);
        if (eol === -1) {
          if (buffer.length > 256) throw new MultipartError('malformed multipart boundary line');
          break;
        }
        // Only transport padding may follow a delimiter on its line.
        if (!/^[ \t]*$/.test(buffer.subarray(0, eol).toString('latin1'))) throw new MultipartError('malformed multipart boundary line');
        buffer = buffer.subarray(eol + 2);
        state = 'headers';
      } else if (state === 'headers') {
        if (buffer.length < 2) break;
        // An empty header block is a bare CRLF.
        const emptyBlock = buffer[0] === 0x0d && buffer[1] === 0x0a;
        const end = emptyBlock ? 0 : buffer.indexOf(HEADER_END);
        if (end === -1) {
          if (buffer.length > limits.maxHeaderBytes) throw new MultipartError(`multipart part headers exceed ${limits.maxHeaderBytes} bytes`);
          break;
        }
        countOther(end);
        inWanted = !found && partNameOf(buffer.subarray(0, end).toString('utf8')) === partName;
        buffer = buffer.subarray(end + (emptyBlock ? 2 : 4));
        state = 'body';
      } else {
        countOther(buffer.length);
        buffer = EMPTY;
        break;
      }
    }
  }
  if (state !== 'epilogue') throw new MultipartError('multipart body ended before its closing boundary');
  if (!found) throw new MultipartError(`multipart body has no part named '${partName}'`);
}

/** Where a delimiter could begin in the buffer's tail (the buffer's length when nowhere). */
function partialDelimiterStart(buffer: Buffer, delimiter: Buffer): number {
  for (let i = Math.max(0, buffer.length - delimiter.length + 1); i < buffer.length; i++) {
    if (buffer[i] === delimiter[0] && delimiter.compare(buffer, i, buffer.length, 0, buffer.length - i) === 0) return i;
  }
  return buffer.length;
}

/** The `name` parameter of a part's Content-Disposition header. */
export function partNameOf(headers: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    // Anchored on `;` so that `filename=` is not taken for `name=`.
    const match = /(?:^|;)\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(line.slice(colon + 1));
    if (!match) return undefined;
    return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2];
  }
  return undefined;
}
