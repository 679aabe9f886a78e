// Writes the JSON Schema of the `gantry apply` file format to schemas/gantry-config.schema.json, from the
// zod schemas in src/cli/apply-format.ts (src/cli/apply-format.test.ts checks that the file is up to date).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '../src/cli/apply-format.js';

const out = fileURLToPath(new URL('../schemas/gantry-config.schema.json', import.meta.url));
await writeFile(out, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stderr.write(`wrote ${out}\n`);
