// Copies non-TypeScript assets (SQL migrations) next to the compiled code in dist/.
import { cp } from 'node:fs/promises';

await cp('src/store/migrations', 'dist/store/migrations', { recursive: true });
