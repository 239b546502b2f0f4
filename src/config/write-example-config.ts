import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EXAMPLE_CONFIG_PATH, renderExampleConfig } from './example-config.js';

// `npm run config:example`, from the repository root: regenerates the committed example.
const file = resolve(process.cwd(), EXAMPLE_CONFIG_PATH);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, renderExampleConfig());
process.stdout.write(`wrote ${EXAMPLE_CONFIG_PATH}\n`);
