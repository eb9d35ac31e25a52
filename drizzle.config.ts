import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './console/db/schema.ts',
  out: './console/db/migrations',
});
