/** Unit specs beside the code (src/**\/*.spec.ts) and e2e specs in test/ (*.e2e-spec.ts). */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  // Transpile only (type checking is `npm run typecheck`): fast, and no native compiler needed.
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true, diagnostics: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testRegex: ['src/.*\\.spec\\.ts$', 'test/.*\\.e2e-spec\\.ts$'],
  testTimeout: 30000,
  maxWorkers: 2,
  // dist/ (npm run build) holds a copy of package.json: not a module of the tests.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
