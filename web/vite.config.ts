// Built by `npm run build:web` (vite build web) into web/dist, which overnight's dashboard
// listener serves. Relative asset URLs so that the page also works behind a path prefix.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle: nothing is loaded from elsewhere (air-gapped rooms).
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
});
