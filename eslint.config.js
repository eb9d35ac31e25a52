// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'crds/', 'charts/', '.holdfast/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'vite.config.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An operator that drops a promise loses an error silently.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'smart'],
    },
  },
  // Remix loaders and actions throw redirects and Responses by design.
  { files: ['app/**/*.{ts,tsx}'], rules: { '@typescript-eslint/only-throw-error': 'off' } },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
