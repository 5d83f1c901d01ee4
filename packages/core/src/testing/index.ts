/**
 * `@mmrl/core/testing`: helpers for testing strategies (built-in and third-party) under node:test (style notes §8.4).
 * Assertions use node:assert, so a failed check is an ordinary test failure.
 */
export * from './strategy-tester.js';
export * from './invariance.js';
