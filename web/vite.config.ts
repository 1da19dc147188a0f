import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Served by Postier at /admin (src/http/admin-ui.ts); `npm run dev:web` proxies the API to a local Postier.
export default defineConfig({
  root: import.meta.dirname,
  base: '/admin/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 800 },
  server: { proxy: { '/api': 'http://127.0.0.1:8000' } },
});
