/**
 * Output sized for an LLM's context: the whole text when it fits the budget, otherwise its head
 * and tail with an explicit marker that says how many bytes were left out and how to get them.
 */
export interface BoundedOutput {
  output: string;
  /** Total bytes of output the run has produced so far. */
  output_bytes: number;
  truncated: boolean;
  /** Bytes left out between head and tail, and where they are (byte offsets). */
  omitted?: { bytes: number; from: number; to: number };
}

export type ByteReader = (position: number, length: number) => Promise<Buffer>;

/** Reads only what it shows: the head and the tail of a possibly large output. */
export async function boundOutput(read: ByteReader, total: number, budget: number, resourceUri: string): Promise<BoundedOutput> {
  if (total === 0) return { output: '', output_bytes: 0, truncated: false };
  if (total <= budget) {
    const data = await read(0, total);
    return { output: data.toString('utf8'), output_bytes: data.length, truncated: false };
  }
  const headBytes = Math.floor(budget / 2);
  const tailStart = total - (budget - headBytes);
  const omitted = { bytes: tailStart - headBytes, from: headBytes, to: tailStart };
  const marker = `\n[... ${omitted.bytes} bytes omitted (bytes ${omitted.from}-${omitted.to}); read them with read_output cursor=${omitted.from}, or the resource ${resourceUri} ...]\n`;
  // Cut on character boundaries: a split UTF-8 sequence would show as replacement characters.
  const head = (await read(0, headBytes)).toString('utf8').replace(/\uFFFD$/, '');
  const tail = (await read(tailStart, total - tailStart)).toString('utf8').replace(/^\uFFFD/, '');
  return { output: head + marker + tail, output_bytes: total, truncated: true, omitted };
}
