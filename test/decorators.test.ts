import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inject, injectable, RUN_CONFIG, TASK } from '@mmrl/core'; // first: it loads reflect-metadata
import { container } from 'tsyringe';
import { StrategyTester } from '@mmrl/core/testing';

/** A class written the way DESIGN.md asks: every constructor parameter carries an explicit token. */
@injectable()
class ExplicitlyInjected {
  constructor(
    @inject(TASK) readonly task: unknown,
    @inject(RUN_CONFIG) readonly config: unknown,
  ) {}
}

test('decorator syntax compiles under the test runner, with explicit tokens and no metadata emission', () => {
  new StrategyTester().checkInjectionTokens(ExplicitlyInjected);
  const child = container.createChildContainer();
  child.register(TASK, { useValue: 'task' as never });
  child.register(RUN_CONFIG, { useValue: { seed: 1 } as never });
  const resolved = child.resolve(ExplicitlyInjected);
  assert.equal(resolved.task, 'task');
  assert.deepEqual(resolved.config, { seed: 1 });
});
