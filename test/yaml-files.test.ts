// The daemon's own YAML files (users and roles, app definitions, configuration) are read back
// without the YAML library when they are exactly as the daemon writes them: what is read directly
// must be what the library reads, whatever the text; any other text (edited by hand, older forms)
// is read by the library.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SecretBox } from '../src/auth/secret-box.js';
import { endTokensIssuedUntil, SecurityStore } from '../src/auth/security-store.js';
import { AppStore } from '../src/store/app-store.js';
import { blockYaml, parseYaml, readBlockYaml } from '../src/store/block-yaml.js';
import { flatYaml } from '../src/store/flat-yaml.js';

const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const TRICKY = [
  '', ' ', 'plain words', 'true', 'False', 'null', '~', 'yes', 'NO', 'on', 'y', 'n', '123', '-1', '1e3', '0x1F', '.inf', '1:20', '2001-12-14',
  'a: b', 'a #b', '#c', '- item', '? q', '[x]', '{x}', '*alias', '&anchor', '!tag', '%d', '@at', '`tick`', "it's", 'say "hi"', 'back\\slash',
  'tab\there', 'line\nbreak', 'cr\rhere', ' lead', 'trail ', 'a  b', 'é ü 漢字 🙂', '\u007f', '\u0085', '\u2028', '\ufeff', '\ud800', '\uffff',
  'key:', '/path/to/file', '---', '...', '<<', '=', '__proto__', 'constructor', 'x'.repeat(1100),
  '$scrypt$N=16384,r=8,p=1$c2FsdA$aGFzaA', 'bob@corp.example', 'my-user', 'a.b', 'a b',
];

/** A deterministic stream of numbers in [0, 1), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

function randomValue(random: () => number, depth: number): unknown {
  const kind = Math.floor(random() * (depth > 2 ? 6 : 8));
  switch (kind) {
    case 0:
    case 1:
      return pick(random, TRICKY);
    case 2:
      return pick(random, [0, 1, -1, 1.5, 1e21, 1e-7, 2 ** 53, 0.1 + 0.2, 6060, 61184]);
    case 3:
      return random() < 0.5;
    case 4:
      return Array.from({ length: Math.floor(random() * 4) }, () => pick(random, [...TRICKY.slice(0, 20), 1, true, null]));
    case 5:
      return random() < 0.2 ? null : pick(random, TRICKY);
    default:
      return randomMapping(random, depth + 1);
  }
}

function randomMapping(random: () => number, depth: number): Record<string, unknown> {
  const mapping: Record<string, unknown> = {};
  const keys = Math.floor(random() * 5);
  for (let i = 0; i < keys; i++) {
    const key = random() < 0.5 ? pick(random, ['name', 'roles', 'key', 'locked', 'Users', 'Roles', 'x_1']) : pick(random, TRICKY.filter((text) => text !== '__proto__'));
    Object.defineProperty(mapping, key, { value: randomValue(random, depth), enumerable: true, writable: true, configurable: true });
  }
  return mapping;
}

/** A security document as the daemon holds it: users of every kind of name and field. */
function securityDocument(): Record<string, unknown> {
  return {
    EncryptKey: true,
    Users: {
      admin: { email: '', group: 'admin', exec_user: '', key: '$scrypt$N=16384,r=8,p=1$c2FsdA$aGFzaA', locked: false, mfa_enabled: false, mfa_key: '', token_epoch: 0, metadata: '', roles: ['manage', 'view', 'shell', 'usermgr'] },
      'bob@corp.example': { email: 'bob@corp.example', group: 'dev ops', key: 'x', locked: true, mfa_enabled: true, mfa_key: 'enc:v1:abc/def+ghi==', token_epoch: 1_796_000_000, token_epoch_ms: 1_796_000_000_123, mfa_last_step: 59_866_666, metadata: 'line\nbreak: "quoted" # not a comment', roles: [], os_uid: 61184, sandbox: 'isolated' },
      'true': { group: 'null', key: 'yes', roles: ['view'], metadata: '' },
      'n': { group: '', key: '', roles: ['a b', '[x]', '- y'] },
      'my-user': { group: '007', key: '1e3', roles: [] },
    },
    Roles: { manage: ['app-control', 'app-view'], view: ['app-view'], 'custom role': [], 'yes': ['x'] },
    NextOsUid: 61185,
  };
}

describe('the direct reader', () => {
  test('reads every document the writer writes as the library does', () => {
    const random = seeded(14);
    let direct = 0;
    const documents = [securityDocument(), ...Array.from({ length: 400 }, () => randomMapping(random, 0))];
    for (const doc of documents) {
      const text = blockYaml(doc);
      const expected = asJson(doc);
      expect(asJson(YAML.parse(text) ?? {}), text).toEqual(expected);
      const read = readBlockYaml(text);
      if (read === undefined) continue;
      direct++;
      expect(asJson(read), text).toEqual(expected);
    }
    // Its own form is the common case: refused only for the few values YAML gives meanings of its own (raw tabs, line separators...).
    expect(direct).toBeGreaterThan(documents.length / 3);
    expect(readBlockYaml(blockYaml(securityDocument()))).toEqual(securityDocument());
  });

  test('app definitions written one line per key read back directly, as the library reads them', () => {
    const definition = {
      name: 'web-1', command: 'python3 -m http.server', shell: true, status: 1, owner: 'alice', permission: 22, register_time: 1_796_000_000,
      env: { PATH: '/bin:/usr/bin', 'WEIRD-KEY': 'a: b # c', EMPTY: '' }, sec_env: { TOKEN: 'enc:v1:abc/def+ghi==' },
      behavior: { exit: 'restart', control: { '0': 'standby', '-1': 'remove' } }, metadata: { nested: [1, 'two', { three: null }, true], text: 'line\nbreak' },
      start_interval_seconds: '0 */5 * * * *', description: null, labels: {},
    };
    const text = flatYaml(definition);
    expect(readBlockYaml(text)).toEqual(YAML.parse(text));
    expect(readBlockYaml(text)).toEqual(definition);
  });

  test('a text changed anywhere is either refused or read as the library reads it (never read otherwise)', () => {
    const random = seeded(7);
    const originals = [blockYaml(securityDocument()), flatYaml({ name: 'a', command: 'sleep 1', env: { A: '1', B: 'x y' }, metadata: ['a', { b: 2 }] })];
    const alphabet = [' ', '  ', ':', ': ', '"', "'", '\\', '\n', '#', '-', '- ', '[', ']', '{', '}', ',', '&a ', '*a', '!', '|', '>', 'a', '1', 'e', 'true', 'null', '~', '\t', '\\u0041', '__proto__', '<<'];
    let readDirectly = 0;
    for (let i = 0; i < 4000; i++) {
      let text = pick(random, originals);
      for (let edits = 1 + Math.floor(random() * 2); edits > 0; edits--) {
        const at = Math.floor(random() * text.length);
        const cut = Math.floor(random() * 3);
        text = text.slice(0, at) + (random() < 0.8 ? pick(random, alphabet) : '') + text.slice(at + cut);
      }
      const read = readBlockYaml(text);
      if (read === undefined) continue;
      readDirectly++;
      let library: unknown;
      expect(() => (library = YAML.parse(text)), JSON.stringify(text)).not.toThrow();
      expect(asJson(read), JSON.stringify(text)).toEqual(asJson(library));
    }
    // Many changes keep the form (another word, another number): those must have been compared.
    expect(readDirectly).toBeGreaterThan(100);
  });

  test('text of other forms is refused, and parseYaml reads it with the library', async () => {
    const others: Array<[string, unknown]> = [
      ['# a comment\nA: 1\n', { A: 1 }],
      ['A: 1 # a comment\n', { A: 1 }],
      ['A: &r ["x"]\nB: *r\n', { A: ['x'], B: ['x'] }],
      ['A: {b: 1, c: [d, e]}\n', { A: { b: 1, c: ['d', 'e'] } }],
      ['A: |\n  two\n  lines\n', { A: 'two\nlines\n' }],
      ['A: >-\n  folded\n  text\n', { A: 'folded text' }],
      ["'A': 'single'\n", { A: 'single' }],
      ['"A": "x"\n', { A: 'x' }],
      ['A:\n  - x\n  - y\n', { A: ['x', 'y'] }],
      ['---\nA: 1\n', { A: 1 }],
      ['A:\r\n  B: 1\r\n', { A: { B: 1 } }],
      ['A:    1\n', { A: 1 }],
      ['A: "plain"\n', { A: 'plain' }],
      ['A: 1.0\n', { A: 1 }],
    ];
    for (const [text, expected] of others) {
      expect(readBlockYaml(text), JSON.stringify(text)).toBeUndefined();
      expect(await parseYaml(text), JSON.stringify(text)).toEqual(expected);
    }
    await expect(parseYaml('A: [unclosed\n')).rejects.toThrow();
  });
});

describe('the stores', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'appmesh-yaml-files-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('users and roles are written in the direct form and read back the same, by both readers', async () => {
    const file = join(dir, 'security.yaml');
    const store = await SecurityStore.create(file, '$scrypt$N=16384,r=8,p=1$c2FsdA$aGFzaA');
    await store.update((doc) => {
      doc.Users['bob@corp.example'] = { email: 'b@c', group: 'dev ops', exec_user: '', key: 'k "q" #x', locked: true, mfa_enabled: false, mfa_key: '', token_epoch: 0, metadata: 'yes', roles: ['view', 'a: b'] };
      endTokensIssuedUntil(doc.Users['bob@corp.example']!, 1_796_000_000_123);
      doc.Users['null'] = { email: '', group: '', exec_user: '', key: '', locked: false, mfa_enabled: false, mfa_key: '', token_epoch: 0, metadata: '', roles: [] };
      doc.Roles['custom role'] = ['app-view'];
    });
    const text = await readFile(file, 'utf8');
    const direct = readBlockYaml(text);
    expect(direct, text).toBeDefined();
    expect(direct).toEqual(YAML.parse(text));
    const reopened = (await SecurityStore.open(file))!;
    for (const name of store.userNames()) expect(reopened.user(name), name).toEqual(store.user(name));
    expect(reopened.userNames().sort()).toEqual(['admin', 'bob@corp.example', 'null']);
    expect(reopened.roles()).toEqual(store.roles());
  });

  test('a change that leaves the document as it is writes nothing; any other change is written', async () => {
    const file = join(dir, 'security.yaml');
    const store = await SecurityStore.create(file, 'hash');
    const inode = async () => (await stat(file)).ino;
    const created = await inode();
    await store.update(() => undefined);
    await store.update((doc) => {
      doc.Users.admin!.locked = false;
    });
    expect(await inode()).toBe(created);
    await store.update((doc) => {
      doc.Users.admin!.locked = true;
    });
    const changed = await inode();
    expect(changed).not.toBe(created);
    expect((await SecurityStore.open(file))!.user('admin')?.locked).toBe(true);
    // Reopened: the text read is the text it would write, so again nothing is written.
    const reopened = (await SecurityStore.open(file))!;
    await reopened.useBeforeSave(() => undefined);
    expect(await inode()).toBe(changed);
  });

  test('a users file edited by hand (comments, anchors, flow style, multi-line strings, quoted keys) is read by the library, then written in the direct form', async () => {
    const file = join(dir, 'security.yaml');
    await writeFile(
      file,
      [
        '# users of this host',
        'EncryptKey: true',
        'Users:',
        '  admin:',
        '    group: admin',
        '    key: "$scrypt$N=16384,r=8,p=1$c2FsdA$aGFzaA"  # do not share',
        '    roles: &all [manage, view, shell, usermgr]',
        "  'carol':",
        '    group: ops',
        '    metadata: |',
        '      first line',
        '      second line',
        '    roles:',
        '      - view',
        '  dave: {group: dev, roles: *all, locked: true}',
        'Roles: {manage: [app-control], view: [app-view]}',
        '',
      ].join('\n'),
    );
    const store = (await SecurityStore.open(file))!;
    expect(store.user('admin')?.roles).toEqual(['manage', 'view', 'shell', 'usermgr']);
    expect(store.user('carol')).toMatchObject({ group: 'ops', metadata: 'first line\nsecond line\n', roles: ['view'] });
    expect(store.user('dave')).toMatchObject({ group: 'dev', locked: true, roles: ['manage', 'view', 'shell', 'usermgr'] });
    expect(store.roles()).toEqual({ manage: ['app-control'], view: ['app-view'] });
    await store.update(() => undefined);
    const rewritten = await readFile(file, 'utf8');
    expect(readBlockYaml(rewritten)).toEqual(YAML.parse(rewritten));
  });

  test('app files in the direct form and edited by hand load alike', async () => {
    const apps = join(dir, 'apps');
    await mkdir(apps);
    await writeFile(join(apps, 'direct.yaml'), flatYaml({ name: 'direct', command: 'sleep 60', env: { A: 'x: y', B: '' }, description: 'one # two' }));
    await writeFile(join(apps, 'by-hand.yaml'), '# by hand\nname: by-hand\ncommand: "sleep 60"\nenv:\n  A: &v "x: y"\n  B: ""\ndescription: >-\n  one\n  # two\n');
    const loaded = await new AppStore(apps, new SecretBox(randomBytes(32))).loadAll();
    expect(loaded.rejected).toEqual([]);
    const byName = Object.fromEntries(loaded.apps.map((app) => [app.name, app]));
    expect(byName.direct).toMatchObject({ command: 'sleep 60', env: { A: 'x: y', B: '' }, description: 'one # two' });
    expect(byName['by-hand']).toMatchObject({ command: 'sleep 60', env: { A: 'x: y', B: '' }, description: 'one # two' });
  });
});
