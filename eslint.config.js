// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * One `no-restricted-imports` block per top-level folder: `deny` names the
 * folders it must not import from (a regular expression over the path after
 * the `../`s, so `../../console/main.js` is caught from any depth).
 * @param {{ folder: string, deny: string, why: string }[]} rules
 */
function importBoundaries(rules) {
  return rules.map(({ folder, deny, why }) => ({
    files: [`${folder}/**/*.{ts,tsx}`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: `^(\\.\\./)+(${deny})(/|$)`, message: `${why}.` }] }],
    },
  }));
}

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'crds/', 'charts/', '.holdfast/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
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
  // Imports run one way (docs/architecture.md): cli → operator | console; app → console;
  // operator and console → kube; the console takes from the operator only its resource schema.
  ...importBoundaries([
    {
      folder: 'kube',
      deny: 'cli|operator|console|app',
      why: 'kube/ is shared by both programs and depends on neither',
    },
    { folder: 'operator', deny: 'cli|console|app', why: 'the operator never depends on the console' },
    {
      folder: 'console',
      deny: 'cli|app|operator(?!/api/)',
      why: 'the console takes from the operator only operator/api (the resource schema and its types)',
    },
    { folder: 'app', deny: 'cli|operator', why: 'the UI reaches the operator only through the console' },
  ]),
  // Remix loaders and actions throw redirects and Responses by design.
  { files: ['app/**/*.{ts,tsx}'], rules: { '@typescript-eslint/only-throw-error': 'off' } },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
