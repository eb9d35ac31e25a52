import { vitePlugin as remix } from '@remix-run/dev';
import { defineConfig } from 'vite';

declare module '@remix-run/node' {
  interface Future {
    v3_singleFetch: true;
  }
}

// Remix v2 with every v3 behaviour on, so moving to React Router v7 is mechanical.
export default defineConfig({
  plugins: [
    remix({
      appDirectory: 'app',
      // hack/images.sh builds the UI straight into the image it assembles.
      buildDirectory: process.env.HOLDFAST_UI_BUILD_DIR ?? 'build',
      future: {
        v3_fetcherPersist: true,
        v3_relativeSplatPath: true,
        v3_throwAbortReason: true,
        v3_singleFetch: true,
        v3_lazyRouteDiscovery: true,
        v3_routeConfig: true,
      },
    }),
  ],
  build: { target: 'es2022' },
  logLevel: 'warn',
});
