// Vite build of the web UI into ui/dist; `npm run dev` proxies the API to a local server on :8080.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022', chunkSizeWarningLimit: 600 },
  server: {
    proxy: { '/api': process.env.GANTRY_SERVER ?? 'http://127.0.0.1:8080' },
  },
});
