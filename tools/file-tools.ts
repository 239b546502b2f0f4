import { Readable } from 'node:stream';
import { z } from 'zod';
import { ServiceError } from '../src/service/errors.js';
import { DESTRUCTIVE, READ_ONLY, defineTool, type ToolDef } from './tool-kit.js';

/**
 * Files for agents, through the same path policy as REST transfers (absolute paths, no `..`,
 * symlink escapes resolved, the base-directory jail, system folders refused) and the same I/O:
 * on a root daemon each read, write, listing and stat runs as the caller's own OS identity, so
 * the kernel refuses what that account could not do. Reads and writes are bounded; large
 * transfers belong to the REST endpoints (see file_upload_command).
 */

const MAX_READ = 1_048_576;
const MAX_WRITE = 4 * 1_048_576;
const path = { path: z.string().describe('Absolute path') };
const entry = z.object({ name: z.string(), type: z.string(), size: z.number(), mode: z.number(), modified: z.number() });

function isText(data: Buffer): boolean {
  const text = data.toString('utf8');
  return !text.includes('\uFFFD') && !data.includes(0);
}

export const FILE_TOOLS: ToolDef[] = [
  defineTool({
    name: 'read_file',
    title: 'Read a file',
    description: `Reads up to ${MAX_READ} bytes of a file from an offset; text comes back as UTF-8, anything else as base64. Use next_offset to continue.`,
    permissions: ['file-download'],
    input: { ...path, offset: z.number().int().min(0).default(0), length: z.number().int().min(1).max(MAX_READ).default(65_536) },
    output: { content: z.string(), encoding: z.enum(['utf8', 'base64']), size: z.number(), next_offset: z.number(), eof: z.boolean() },
    annotations: READ_ONLY,
    run: async ({ core, principal }, args) => {
      const { data, size } = await core.files.readRange(principal, args.path, args.offset, args.length);
      const text = isText(data);
      const next = Math.min(args.offset, size) + data.length;
      return { content: text ? data.toString('utf8') : data.toString('base64'), encoding: text ? 'utf8' : 'base64', size, next_offset: next, eof: next >= size };
    },
  }),
  defineTool({
    name: 'write_file',
    title: 'Write a file',
    description: `Writes a file (up to ${MAX_WRITE} bytes) atomically: a temporary file beside it, renamed when complete. An existing file is replaced only with overwrite: true.`,
    permissions: ['file-upload'],
    input: {
      ...path,
      content: z.string(),
      encoding: z.enum(['utf8', 'base64']).default('utf8'),
      overwrite: z.boolean().default(false),
      mode: z.number().int().min(0).max(0o777).optional().describe('Permission bits, e.g. 420 (= 0644)'),
    },
    output: { path: z.string(), bytes: z.number() },
    annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => {
      const data = Buffer.from(args.content, args.encoding);
      if (data.length > MAX_WRITE) throw new ServiceError(413, `write_file takes at most ${MAX_WRITE} bytes; use the REST upload for more`);
      await core.files.upload(principal, args.path, Readable.from([data]), { overwrite: args.overwrite, mode: args.mode === undefined ? undefined : String(args.mode), contentLength: data.length });
      return { path: args.path, bytes: data.length };
    },
  }),
  defineTool({
    name: 'list_dir',
    title: 'List a directory',
    description: 'Entries of a directory with type, size, mode and modification time.',
    permissions: ['file-download'],
    input: path,
    output: { path: z.string(), entries: z.array(entry), truncated: z.boolean() },
    annotations: READ_ONLY,
    run: async ({ core, principal }, args) => ({ ...(await core.files.list(principal, args.path)) }),
  }),
  defineTool({
    name: 'stat_path',
    title: 'Describe a path',
    description: 'Type, size, mode, owner and modification time of a file or directory.',
    permissions: ['file-download'],
    input: path,
    output: { path: z.string(), type: z.string(), size: z.number(), mode: z.number(), user: z.string(), group: z.string() },
    annotations: READ_ONLY,
    run: async ({ core, principal }, args) => ({ ...(await core.files.stat(principal, args.path)) }),
  }),
];
